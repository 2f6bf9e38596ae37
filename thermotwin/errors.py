"""One exception hierarchy for the whole project (docs/conventions.md#errors).

``ValueError`` and ``KeyError`` are raised for bad values and unknown keys; the project's own
errors derive from :class:`ThermotwinError` so the CLI can turn every one of them into a one-line
message and a non-zero exit.
"""

from __future__ import annotations


class ThermotwinError(Exception):
    """Base class of every error thermotwin raises on purpose."""


class InputError(ThermotwinError, ValueError):
    """A user-supplied file, matrix or option is unusable; the message says what to change."""


class UnknownKeyError(InputError, KeyError):
    """A file or option names a field that does not exist (a KeyError too: unknown keys are KeyErrors);
    its message is the plain text, not KeyError's quoted repr."""

    __str__ = Exception.__str__


class UnstableMatrixError(InputError):
    """The drift matrix has an eigenvalue with non-positive real part: the circuit would rail out."""


class SimulationError(ThermotwinError):
    """A backend failed to produce a trace."""


class NgspiceNotFoundError(SimulationError):
    """The ngspice executable or shared library is not installed."""


class NgspiceError(SimulationError):
    """ngspice ran but failed or timed out.

    Attributes:
        netlist_path: path of the netlist that was run (kept for inspection).
        stderr_tail: the last lines ngspice printed.
    """

    def __init__(self, message: str, netlist_path: str | None = None, stderr_tail: str = ""):
        super().__init__(message)
        self.netlist_path = netlist_path
        self.stderr_tail = stderr_tail
