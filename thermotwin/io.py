"""Moved to :mod:`thermotwin.core.io`; this name stays importable (the same module object)."""

import sys

from .core import io as _moved

sys.modules[__name__] = _moved
