"""Moved to :mod:`thermotwin.core.problem`; this name stays importable (the same module object)."""

import sys

from .core import problem as _moved

sys.modules[__name__] = _moved
