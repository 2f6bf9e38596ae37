"""Calibration from measured traces (fit an OU model: drift, fixed point, noise) and accuracy prediction.

The names below are imported on first use (``fit`` needs scipy.stats, slow to import).
"""

__all__ = ["Trace", "read_trace", "Calibration", "fit_ou", "ErrorPrediction", "predict_error", "predict_for",
           "predict_from_calibration", "time_to_tolerance"]

_WHERE = {"Trace": "traces", "read_trace": "traces", "Calibration": "fit", "fit_ou": "fit",
          "ErrorPrediction": "predict", "predict_error": "predict", "predict_for": "predict",
          "predict_from_calibration": "predict", "time_to_tolerance": "predict"}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'thermotwin.calibration' has no attribute {name!r}")
