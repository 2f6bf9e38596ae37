"""Moved to :mod:`thermotwin.core.noise`; this name stays importable (the same module object)."""

import sys

from ..core import noise as _moved

sys.modules[__name__] = _moved
