"""``python -m thermotwin.cli``."""

import sys

from . import main

sys.exit(main())
