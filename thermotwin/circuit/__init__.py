"""The board: what the hardware is (:class:`HardwareSpec`), how a problem is mapped onto it
(:class:`Mapping`, :func:`realise` → :class:`Board`), what it computes, and its SPICE netlist
(:func:`render_netlist`, dense array or three-array board). ``design`` is the dense mapping's
module (:func:`thermotwin.circuit.design.design`)."""

from .board import Board, realisation_report, realise
from .design import ComponentValues, Realised, realised_matrix
from .factored import FactoredBoard, realise_factored, stage_time_constants
from .mapping import GBW_MODELS, Mapping
from .netlist import render_factored_netlist, render_netlist
from .spec import HardwareSpec, OpAmpSpec

__all__ = ["HardwareSpec", "OpAmpSpec", "Mapping", "GBW_MODELS", "realise", "Board", "realisation_report",
           "ComponentValues", "Realised", "realised_matrix", "FactoredBoard", "realise_factored",
           "stage_time_constants", "render_netlist", "render_factored_netlist"]
