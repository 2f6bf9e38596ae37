"""Progress of long runs on stderr: one self-overwriting line, never on stdout, never in a result.

Shown only when stderr is a terminal and a run has gone on for :data:`DELAY_S` seconds; silent
under ``--quiet`` (:func:`quiet`) and whenever stderr is not a terminal (pipes, files, CI logs). The
environment variable ``THERMOTWIN_PROGRESS`` overrides the terminal test: ``1`` always shows it
(from the first update, no delay), ``0`` never does.

Two kinds, nestable (an ensemble member inside a report): :class:`Bar` (a known number of steps,
updated by the loop) and :func:`elapsed` (a subprocess or library call that reports nothing: the
seconds since its start and its time limit, redrawn by a daemon thread). Active bars draw as one
line joined by `` · ``; the line is erased when the outermost one closes, so a finished command
leaves nothing of it on the terminal. Cost: one ``time.monotonic()`` per update when shown, one
attribute test when not; no imports beyond the standard library.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import threading
import time

__all__ = ["enabled", "quiet", "Bar", "elapsed", "DELAY_S", "ENV"]

#: Seconds a run must last before its progress appears (a short run prints nothing).
DELAY_S = 1.0
#: Redraw interval of the line, seconds.
REDRAW_S = 0.25
#: Environment override: "1" always shown, "0" never.
ENV = "THERMOTWIN_PROGRESS"

_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("thermotwin_progress_quiet", default=False)
_lock = threading.RLock()
_active: list = []          # the open bars, outermost first
_drawn = {"width": 0}


@contextlib.contextmanager
def quiet(value: bool = True):
    """``with quiet(): ...`` shows no progress (the CLI's ``--quiet``)."""
    token = _quiet.set(bool(value))
    try:
        yield
    finally:
        _quiet.reset(token)


def _forced() -> bool | None:
    v = os.environ.get(ENV, "").strip()
    return True if v == "1" else False if v == "0" else None


def enabled() -> bool:
    """Whether progress is shown now: not quiet, and THERMOTWIN_PROGRESS=1 or stderr is a terminal."""
    if _quiet.get():
        return False
    forced = _forced()
    if forced is not None:
        return forced
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _fmt_s(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def _redraw(force: bool = False) -> None:
    """Draw the active bars as one line (caller holds the lock)."""
    if not _active:
        return
    now = time.monotonic()
    outer = _active[0]
    if not force and now - outer._last_draw < REDRAW_S:
        return
    if outer._delay and now - outer._t0 < DELAY_S:
        return
    outer._last_draw = now
    line = " · ".join(b._text(now) for b in _active)
    pad = max(0, _drawn["width"] - len(line))
    try:
        sys.stderr.write("\r" + line + " " * pad)
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    _drawn["width"] = len(line)


def _erase() -> None:
    if _drawn["width"]:
        try:
            sys.stderr.write("\r" + " " * _drawn["width"] + "\r")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        _drawn["width"] = 0


class Bar:
    """``with Bar("simulate", total=n) as bar: ... bar.update(done)`` — a no-op when progress is off.

    ``total`` None: counts without a percentage. ``limit_s``: a time limit to show beside the
    elapsed time (``elapsed``'s subprocesses)."""

    def __init__(self, label: str, total: float | None = None, limit_s: float | None = None):
        self.label = label
        self.total = total
        self.limit_s = limit_s
        self.done = 0.0
        self.on = enabled()
        self._delay = _forced() is not True
        self._t0 = time.monotonic()
        self._last_draw = -1e300

    def _text(self, now: float) -> str:
        t = _fmt_s(now - self._t0)
        if self.total:
            frac = min(1.0, max(0.0, self.done / self.total))
            return f"{self.label} {frac:4.0%} ({t})"
        if self.limit_s:
            return f"{self.label} {t} of at most {_fmt_s(self.limit_s)}"
        return f"{self.label} {t}"

    def __enter__(self) -> "Bar":
        if self.on:
            with _lock:
                _active.append(self)
        return self

    def update(self, done: float, label: str | None = None) -> None:
        """Set the steps done so far (absolute), optionally a new label; redraws at most every REDRAW_S."""
        if not self.on:
            return
        self.done = done
        if label is not None:
            self.label = label
        with _lock:
            _redraw()

    def __exit__(self, *exc) -> None:
        if not self.on:
            return
        with _lock:
            if self in _active:
                _active.remove(self)
            if _active:
                _redraw(force=True)
            else:
                _erase()


@contextlib.contextmanager
def elapsed(label: str, limit_s: float | None = None):
    """Progress of a call that reports nothing (an ngspice subprocess): its elapsed time, and its
    time limit, redrawn by a daemon thread until the block ends."""
    bar = Bar(label, limit_s=limit_s)
    if not bar.on:
        yield bar
        return
    stop = threading.Event()

    def tick():
        while not stop.wait(REDRAW_S):
            with _lock:
                _redraw()

    with bar:
        with _lock:
            _redraw()          # at once (a forced bar has no delay): a short call still shows its line
        th = threading.Thread(target=tick, name="thermotwin-progress", daemon=True)
        th.start()
        try:
            yield bar
        finally:
            stop.set()
            th.join()
