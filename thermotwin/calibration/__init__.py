"""Calibration from measured traces (fit an OU model: drift, fixed point, noise) and accuracy prediction."""

from .fit import Calibration, fit_ou
from .predict import ErrorPrediction, predict_error, predict_for, predict_from_calibration, time_to_tolerance
from .traces import Trace, read_trace

__all__ = ["Trace", "read_trace", "Calibration", "fit_ou", "ErrorPrediction", "predict_error", "predict_for",
           "predict_from_calibration", "time_to_tolerance"]
