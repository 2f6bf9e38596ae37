"""Compare rendered netlist text with a reviewed golden file: structure exact, numbers to a tolerance.

Why not text equality: the writer prints full-precision floats (``repr``), and quantities derived from
an eigenvalue or a square root (τ-based times, noise amplitudes) can differ in their last bits
between CPUs, LAPACK builds and library versions. A golden test that compares text byte for byte
then fails on a new machine for no change at all. Why not fewer printed digits: rounding to k
digits still flips a digit whenever a value sits near a rounding boundary, and it would throw away
precision that ngspice uses.

So the text is split into tokens: every number (a float or integer literal standing on its own, as
SPICE writes them: ``1000.0``, ``1e-09``, ``-8.09e-05``, the ``0`` of ``IC=0`` or ``PWL(0``) is
compared to :data:`RTOL` relative; everything else — element names, node names, source types,
keywords, hashes, the line structure and the number of tokens — must match exactly. A resistor
changed by 1e-6 relative, one node name or one source keyword fails, with a message that shows
the differing lines.
"""

from __future__ import annotations

import re

#: relative tolerance on every number in the text; far above the ~1e-15 of floating-point noise,
#: far below any component change that matters (tolerances are ≥ 1e-6 in practice)
RTOL = 1e-9

# a number standing alone: not glued to a name (o0, R0_1), a hash (sha256:54bf…) or a version (0.1.0)
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_.])")


def split_line(line: str) -> tuple[list[str], list[float]]:
    """The non-numeric skeleton of ``line`` (with ``#`` where numbers stood) and its numbers."""
    numbers = [float(m.group()) for m in _NUMBER.finditer(line)]
    skeleton = _NUMBER.split(line)
    return skeleton, numbers


def _close(a: float, b: float, rtol: float) -> bool:
    return a == b or abs(a - b) <= rtol * max(abs(a), abs(b))


def compare_text(actual: str, expected: str, rtol: float = RTOL, max_report: int = 5) -> list[str]:
    """Differences between two netlist texts, as readable messages (empty list: they match).

    Lines are compared in order; a different line count is reported once, then the common prefix is
    still compared so the first real difference is shown.
    """
    a_lines, e_lines = actual.splitlines(), expected.splitlines()
    diffs: list[str] = []
    if len(a_lines) != len(e_lines):
        diffs.append(f"line count differs: rendered {len(a_lines)}, golden {len(e_lines)}")
    for no, (a, e) in enumerate(zip(a_lines, e_lines), start=1):
        a_skel, a_num = split_line(a)
        e_skel, e_num = split_line(e)
        why = None
        if a_skel != e_skel or len(a_num) != len(e_num):
            why = "text differs"
        else:
            bad = [(x, y) for x, y in zip(a_num, e_num) if not _close(x, y, rtol)]
            if bad:
                x, y = bad[0]
                why = f"number {x!r} vs golden {y!r} (relative {abs(x - y) / max(abs(x), abs(y)):.1e} > {rtol:g})"
        if why:
            diffs.append(f"line {no}: {why}\n  rendered: {_clip(a)}\n  golden:   {_clip(e)}")
            if len(diffs) >= max_report:
                diffs.append("... (further differences not shown)")
                break
    return diffs


def _clip(line: str, n: int = 160) -> str:
    return line if len(line) <= n else line[:n] + " …"


def assert_matches_golden(actual: str, expected: str, name: str, rtol: float = RTOL) -> None:
    diffs = compare_text(actual, expected, rtol)
    assert not diffs, (f"{name} differs from the renderer's output beyond numbers at rtol={rtol:g}; if the "
                       "change is intended, regenerate with THERMOTWIN_REGEN_GOLDEN=1 and review the diff\n"
                       + "\n".join(diffs))
