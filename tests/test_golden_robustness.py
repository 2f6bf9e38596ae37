"""The golden comparisons and digests survive floating-point noise and still catch every real change.

Both directions are tested: inputs perturbed by a few ulps (what another CPU, BLAS or LAPACK build
does to derived quantities) leave the golden netlists and every digest unchanged; a resistor changed
by 1e-6 relative, one node name, one source type or one value at 1e-9 relative is caught, with a
message that shows the difference.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import thermotwin as tt
from thermotwin.core.fingerprint import array_digest, json_digest, quantise
from thermotwin.solver.factored import FactoredProblem

from golden_cases import A_REF, B_REF, CASES, G_REF, H_REF, J_REF
from golden_compare import RTOL, assert_matches_golden, compare_text


def ulps(a, k: int, seed: int = 0) -> np.ndarray:
    """``a`` with every non-zero entry moved by k ulps, up or down at random (a seeded pattern).

    Zeros stay zero: a structural zero is an input, not a rounded result (an ulp of 0 is a subnormal,
    not a relative perturbation)."""
    a = np.array(a, dtype=np.float64)
    up = np.random.default_rng(seed).random(a.shape) < 0.5
    nz = a != 0
    for _ in range(k):
        a = np.where(nz, np.where(up, np.nextafter(a, np.inf), np.nextafter(a, -np.inf)), a)
    return a


def render_case(name: str, **changes) -> str:
    case = CASES[name]
    return dataclasses.replace(case, **changes).render() if changes else case.render()


# ---------------------------------------------------------------------------------------------
# a few ulps: still green
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ref_3x3_pwl", "ref_3x3_trrandom"])
@pytest.mark.parametrize("k", [1, 3])
def test_dense_golden_survives_ulp_perturbed_inputs(name, k):
    case = CASES[name]
    A, b = ulps(A_REF, k, seed=1), ulps(B_REF, k, seed=2)
    assert not np.array_equal(A, A_REF)            # exact: the perturbation really happened
    text = render_case(name, problem=tt.Problem(A, b, name="ref_3x3"))
    assert_matches_golden(text, case.netlist_path.read_text(), case.netlist_path.name)


def test_factored_golden_survives_ulp_perturbed_inputs():
    case = CASES["ref_factored_4x2_pwl"]
    p = FactoredProblem(ulps(J_REF, 2, 3), ulps(H_REF, 2, 4), float(ulps(0.5, 2, 5)), ulps(G_REF, 2, 6),
                        name="ref_factored_4x2")
    assert_matches_golden(render_case(case.name, problem=p), case.netlist_path.read_text(), case.netlist_path.name)


def test_ulp_perturbed_times_differ_in_the_text_but_compare_equal():
    """The very failure of a new machine: the same netlist with its derived times off by a few ulps."""
    golden = CASES["ref_3x3_pwl"].netlist_path.read_text()
    line = next(ln for ln in golden.splitlines() if ln.startswith("* t_end="))
    t_end = float(line.split("=")[1].split()[0])
    moved = repr(float(ulps(t_end, 3)))
    assert moved != repr(t_end)                     # exact: the text really changed
    assert not compare_text(golden.replace(repr(t_end), moved), golden)


# ---------------------------------------------------------------------------------------------
# real changes: red, with the difference shown
# ---------------------------------------------------------------------------------------------
def _red(text: str, name: str) -> str:
    case = CASES[name]
    with pytest.raises(AssertionError) as exc:
        assert_matches_golden(text, case.netlist_path.read_text(), case.netlist_path.name)
    return str(exc.value)


def test_resistor_changed_by_1e_6_relative_is_red():
    """One resistor of the rendered text, R1_0 = 1/(g·|A[1, 0]|), changed by 1e-6 relative."""
    lines = CASES["ref_3x3_pwl"].render().splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith("R1_0 "))
    *head, value = lines[i].split()
    lines[i] = " ".join(head + [repr(float(value) * (1 + 1e-6))])
    msg = _red("\n".join(lines) + "\n", "ref_3x3_pwl")
    assert "R1_0" in msg and "relative 1.0e-06" in msg, msg


def test_matrix_entry_changed_by_1e_6_relative_is_red():
    """The same change made at the input: A[1, 0] × (1 + 1e-6) moves R1_0, the matrix digest and (through
    the eigenvalues) the time grid."""
    A = A_REF.copy()
    A[1, 0] *= 1 + 1e-6
    msg = _red(render_case("ref_3x3_pwl", problem=tt.Problem(A, B_REF, name="ref_3x3")), "ref_3x3_pwl")
    assert "sha256" in msg and "t_end" in msg, msg


@pytest.mark.parametrize("old,new,shown", [
    ("R0_1 o1 s0", "R0_1 o2 s0", "R0_1 o2 s0"),          # one node name
    ("Vdac0 din0 0 DC", "Idac0 din0 0 DC", "Idac0"),       # one source type (V → I)
    ("a_noise0 %vd [", "a_noise0 %v [", "a_noise0 %v ["),  # one port type
])
def test_one_token_changed_is_red(old, new, shown):
    golden = CASES["ref_3x3_pwl"].netlist_path.read_text()
    assert golden.count(old) == 1
    msg = _red(CASES["ref_3x3_pwl"].render().replace(old, new), "ref_3x3_pwl")
    assert shown in msg, msg


def test_noise_source_kind_changed_is_red():
    """The same problem written with TRRANDOM sources instead of PWL ones."""
    msg = _red(render_case("ref_3x3_pwl", config=CASES["ref_3x3_trrandom"].config), "ref_3x3_pwl")
    assert "TRRANDOM" in msg or "noise=trrandom" in msg, msg


def test_missing_line_is_red():
    text = "\n".join(ln for ln in CASES["ref_3x3_pwl"].render().splitlines() if not ln.startswith("Rin1 "))
    assert "line count differs" in _red(text, "ref_3x3_pwl")


# ---------------------------------------------------------------------------------------------
# digests: a stated precision, not the last bit
# ---------------------------------------------------------------------------------------------
def test_quantise_keeps_40_bits_and_one_form_per_value():
    x = np.array([0.0, -0.0, 1.0, -0.3, 2.0, 1e-300, 3.5e300])
    q, e = quantise(x)
    np.testing.assert_allclose(np.ldexp(q.astype(float), e - 40), x, rtol=2.0 ** -40, atol=0)
    # exact: 2 - 1 ulp rounds up to the mantissa 2^40 and is renormalised to 2.0's own form
    assert int(quantise(np.nextafter(2.0, 0))[0]) == int(quantise(2.0)[0])
    assert int(q[0]) == int(q[1]) == 0                # exact: integers


def test_array_digest_ignores_ulps_and_sees_1e_9():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((20, 20))
    A[np.abs(A) < 1e-3] = 0.5         # keep away from nothing in particular; just a generic matrix
    ref = array_digest(A)
    # A value within k ulps of a rounding boundary of the 40-bit mantissa can flip: probability
    # ≈ 2k·2^-53/2^-40 ≈ 7e-4 per entry at k = 3 — for this seeded matrix none does (checked here).
    assert array_digest(ulps(A, 3, seed=7)) == ref
    for rel in (1e-9, 1e-6):
        B = A.copy()
        B[3, 4] *= 1 + rel
        assert array_digest(B) != ref
    assert array_digest(A.T) != ref and array_digest(A.reshape(40, 10)) != ref   # shape and order count


def test_problem_digest_ignores_ulps():
    p = tt.builtin_example()
    assert tt.Problem(ulps(p.A, 2, 1), ulps(p.b, 2, 2)).digest() == p.digest()
    b = p.b.copy()
    b[0] *= 1 + 1e-9
    assert tt.Problem(p.A, b).digest() != p.digest()


def test_spec_digest_ignores_ulps_and_sees_1e_9():
    spec = tt.HardwareSpec(r_tolerance=0.01, c_farad=1e-9)
    near = spec.replace(r_tolerance=float(ulps(0.01, 3)), c_farad=float(ulps(1e-9, 2, 3)))
    assert near.to_dict() != spec.to_dict()           # exact: the values differ in their last bits
    assert near.digest() == spec.digest()
    assert spec.replace(r_tolerance=0.01 * (1 + 1e-9)).digest() != spec.digest()


def test_sweep_digest_same_for_a_grid_computed_two_ways(tmp_path):
    """A grid written by hand and the same grid computed with logspace/arithmetic: one sweep."""
    from thermotwin.sweep.plan import SweepPlan

    computed = [float(v) for v in np.logspace(-3, -1, 3)]            # 0.001, 0.01, 0.1 up to ulps
    written = [0.001, 0.01, 0.1]
    mk = lambda vals: SweepPlan.from_dict({"matrix": "builtin", "grid": {"kappa0_v2": vals}}, base_dir=tmp_path)
    assert mk(computed).digest() == mk(written).digest()
    assert mk([0.001, 0.01, 0.1 * (1 + 1e-9)]).digest() != mk(written).digest()


def test_json_digest_types():
    assert json_digest({"a": 1}) != json_digest({"a": 1.0})           # an int is not a float
    assert json_digest({"a": True}) != json_digest({"a": 1})
    assert json_digest({"a": -0.0}) == json_digest({"a": 0.0})
    assert RTOL == 1e-9                                                # exact: the stated tolerance
