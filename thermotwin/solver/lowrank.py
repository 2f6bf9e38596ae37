"""Moved to :mod:`thermotwin.core.lowrank`; this name stays importable (the same module object)."""

import sys

from ..core import lowrank as _moved

sys.modules[__name__] = _moved
