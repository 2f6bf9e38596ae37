"""The package version (the bottom layer: every layer may print it)."""

__version__ = "0.1.0"
