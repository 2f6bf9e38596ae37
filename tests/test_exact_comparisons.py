"""Lint: every exact comparison in tests/ says why it is exact on every machine.

Computed floats differ in their last bits between CPUs, BLAS/LAPACK builds and numpy/scipy/numba
versions, so a test may compare floats exactly only when no such difference can arise: the same
computation run twice in one process, values copied through without arithmetic (a stored literal,
a repr round trip, a slice), integers and sign patterns, or IEEE-exact operations. Such a comparison
carries a comment starting with ``# exact:`` on its own line(s) or in the comment block directly
above it, saying which of these it is; everything else compares with a stated tolerance.

Found by the syntax tree (not by text), so comments, strings and calls split over lines are handled:
  * ``array_equal``, ``array_equiv``, ``assert_array_equal``, ``assert_equal`` calls;
  * zero-tolerance closeness: ``assert_allclose`` with ``rtol=0`` and no or zero ``atol``;
    ``allclose``/``isclose`` with ``rtol=0, atol=0``; ``math.isclose`` with ``rel_tol=0``;
    ``pytest.approx`` with ``abs=0`` and no or zero ``rel`` (``abs`` alone disables ``rel``).
``==`` between floats cannot be told from ``==`` between ints or strings this way; those sites were
reviewed by hand and carry the same comment.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
MARK = "# exact:"
EQUALITY = {"array_equal", "array_equiv", "assert_array_equal", "assert_equal"}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _zero(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and not isinstance(node.value, bool) and node.value == 0


def _is_exact(call: ast.Call) -> bool:
    name = _name(call.func)
    kw = {k.arg: k.value for k in call.keywords if k.arg}
    if name in EQUALITY:
        return True
    if name == "assert_allclose":                        # defaults rtol=1e-7, atol=0
        return _zero(kw.get("rtol")) and ("atol" not in kw or _zero(kw["atol"]))
    if name in ("allclose", "isclose"):
        if "rel_tol" in kw or "abs_tol" in kw:           # math.isclose: defaults rel_tol=1e-9, abs_tol=0
            return _zero(kw.get("rel_tol")) and ("abs_tol" not in kw or _zero(kw["abs_tol"]))
        return _zero(kw.get("rtol")) and _zero(kw.get("atol"))
    if name == "approx":                                 # abs given alone: rel is not used at all
        return _zero(kw.get("abs")) and ("rel" not in kw or _zero(kw["rel"]))
    return False


def unmarked_exact_comparisons(source: str) -> list[int]:
    """Line numbers of exact comparisons in ``source`` without a ``# exact:`` reason."""
    lines = source.splitlines()
    bad = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and _is_exact(node)):
            continue
        first, last = node.lineno, node.end_lineno or node.lineno
        marked = any(MARK in lines[i - 1] for i in range(first, last + 1))
        i = first - 1                                    # the comment block directly above
        while not marked and i >= 1 and lines[i - 1].lstrip().startswith("#"):
            marked = MARK in lines[i - 1]
            i -= 1
        if not marked:
            bad.append(first)
    return sorted(set(bad))


def test_every_exact_comparison_in_tests_says_why():
    found = []
    for path in sorted(TESTS.glob("*.py")):
        found += [f"{path.relative_to(TESTS.parent)}:{n}"
                  for n in unmarked_exact_comparisons(path.read_text(encoding="utf-8"))]
    assert not found, ("exact float comparisons without a '# exact:' reason (say why the bits are the same "
                       "on every machine, or compare with a stated tolerance):\n  " + "\n  ".join(found))


@pytest.mark.parametrize("code, flagged", [
    ("np.testing.assert_array_equal(a, b)", [2]),
    ("assert np.array_equal(a, b)", [2]),
    ("np.testing.assert_equal(a,\n    b)", [2]),
    ("np.testing.assert_allclose(a, b, rtol=0, atol=0)", [2]),
    ("np.testing.assert_allclose(a, b, rtol=0)", [2]),
    ("np.testing.assert_allclose(a, b,\n    rtol=0.0, atol=0)", [2]),
    ("assert np.allclose(a, b, rtol=0, atol=0)", [2]),
    ("assert math.isclose(a, b, rel_tol=0)", [2]),
    ("assert x == pytest.approx(y, abs=0)", [2]),
    ("assert x == pytest.approx(y, rel=0, abs=0)", [2]),
    ("np.testing.assert_array_equal(a, b)   # exact: a slice", []),
    ("# exact: a slice\nnp.testing.assert_array_equal(a, b)", []),
    ("# exact: a slice, said over\n# two comment lines\nnp.testing.assert_array_equal(a, b)", []),
    ("np.testing.assert_array_equal(a,\n    b)   # exact: a slice", []),
    ("# exact: for the first only\nnp.testing.assert_array_equal(a, b)\nnp.testing.assert_array_equal(c, d)", [4]),
    ("s = 'assert_array_equal(a, b)'   # text, not a call", []),
    ("np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)", []),
    ("np.testing.assert_allclose(a, b, atol=0)", []),
    ("assert np.allclose(a, b, rtol=0)", []),
    ("assert x == pytest.approx(y, rel=0)", []),
    ("assert x == pytest.approx(y, rel=1e-12, abs=0)", []),
])
def test_the_lint_finds_what_it_should(code, flagged):
    assert unmarked_exact_comparisons("import numpy as np\n" + code + "\n") == flagged
