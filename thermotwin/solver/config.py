"""Moved to :mod:`thermotwin.core.config`; this name stays importable (the same module object)."""

import sys

from ..core import config as _moved

sys.modules[__name__] = _moved
