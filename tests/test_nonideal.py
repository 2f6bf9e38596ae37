"""Non-idealities without ngspice: closed forms for design/realised_matrix, twin backends against each
other, convergence of the non-linear kernel, and error mitigation by board averaging.

Oracles (docs/conventions.md#oracles): closed forms derived here from KCL (docs/circuit.md#cell, docs/nonideal.md#nonideal), the exact
path (``twin``) against the numba kernel (``twin-em``) fed the same noise, first-order error
propagation for tolerance, and the exact expectation of stochastic rounding. Every stochastic
tolerance is k·σ with k ≥ 4 and σ derived next to it.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import thermotwin as tt
from thermotwin.circuit.design import Mapping, design, error_floor, realised_matrix
from thermotwin.circuit.spec import HardwareSpec, OpAmpSpec
from thermotwin.cli import main
from thermotwin.solver import ou
from thermotwin.solver.circuit_field import field_params, linear_system

K_SIGMA = 4.0


# ---------------------------------------------------------------------------------------------
# matrices
# ---------------------------------------------------------------------------------------------
def nonsym4() -> tt.Problem:
    """Non-symmetric, non-normal, stable 4×4 with negative entries.

    Eigenvalues 0.97 ± 0.14i and 1.58 ± 0.67i.
    """
    A = np.array([[1.4, -0.5, 0.2, 0.1],
                  [0.3, 1.1, -0.4, 0.0],
                  [-0.6, 0.2, 1.7, -0.3],
                  [0.25, -0.15, 0.5, 0.9]])
    assert np.linalg.eigvals(A).real.min() > 0.9 and (A < 0).sum() >= 4
    return tt.Problem(A, np.array([1.0, -0.5, 0.3, 2.0]), name="nonsym4")


def spd(d: int, seed: int, rhs_scale: float = 1.0) -> tt.Problem:
    """Wishart-like SPD G Gᵀ/(2d) + 0.3 I with a seeded Gaussian right-hand side."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((d, 2 * d))
    return tt.Problem(G @ G.T / (2 * d) + 0.3 * np.eye(d), rhs_scale * rng.standard_normal(d), name=f"spd{d}")


def rel(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b))


# ---------------------------------------------------------------------------------------------
# ideal round trip
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mapping", [Mapping(), Mapping(scale=3.7, b_scale=0.3), Mapping(scale=0.2)],
                         ids=["default", "scaled", "small-scale"])
def test_ideal_round_trip_is_exact(mapping):
    p = nonsym4()
    spec = HardwareSpec.ideal()
    values = design(p, spec, mapping)
    real = realised_matrix(values, spec)
    # round-off only: a few ulps of the O(1) entries
    np.testing.assert_allclose(real.A_eff, p.A, rtol=0, atol=1e-13)
    np.testing.assert_allclose(real.b_eff, p.b, rtol=0, atol=1e-13)
    np.testing.assert_allclose(real.x_fixed_point, p.x_exact, rtol=0, atol=1e-12)
    s = mapping.scale or 1.0
    assert values.scale == s   # exact: mapping.scale (or the literal 1.0) passed through
    assert np.isclose(values.nominal_tau_s, spec.r0_ohm * spec.c_farad / s, rtol=1e-15)
    # the wiring docs/circuit.md#cell fixes: R_ij = 1/(g|A_ij|), from n_j for negative entries
    g = s / spec.r0_ohm
    nz = p.A != 0
    np.testing.assert_allclose(values.r_entry[nz], 1.0 / (g * np.abs(p.A[nz])), rtol=1e-15)
    assert np.all(np.isinf(values.r_entry[~nz]))
    np.testing.assert_array_equal(values.sign, np.sign(p.A))   # exact: sign patterns
    np.testing.assert_allclose(values.v_in, -p.b * values.b_scale, rtol=1e-15)
    assert error_floor(p, real) < 1e-12


# ---------------------------------------------------------------------------------------------
# finite gain, offset (closed forms from KCL, docs/nonideal.md#gain)
# ---------------------------------------------------------------------------------------------
def finite_gain_closed_form(A: np.ndarray, b: np.ndarray, s: float, A0: float, vos: float = 0.0):
    """A_eff and b_eff of the ideal-component board with op-amp gain A0 and offset vos, scale s.

    Integrator: v_s,i = V_os − V_i/A0, so C(1 + 1/A0) dV_i/dt = −Σ_j G_ij src_j − V_in,i g − V_n g_n
    − (V_i/A0 − V_os) g_tot,i with g_tot,i = g Σ_j|A_ij| + g (R_in) + 1/R0 (R_n = R0), g = s/R0.
    Inverter (R_f = R_i): n_j = k V_j + c, k = −1/(1 + 2/A0), c = 2 V_os/(1 + 2/A0). So, in units
    of g and with τ = C/g:
        A_eff = (A⁺ + (−k) A⁻ + diag(g_tot/(g A0))) / (1 + 1/A0)       (A⁻: the negative entries)
        b_eff = (b + V_os[g_tot/g − c/V_os · Σ_j|A⁻_ij|]/b_scale) / (1 + 1/A0)   (b_scale = 1 here)
    """
    inv = 0.0 if A0 is None else 1.0 / A0
    k = -1.0 / (1.0 + 2.0 * inv)
    gt = np.abs(A).sum(axis=1) + 1.0 + 1.0 / s                     # g_tot/g
    Aw = np.where(A > 0, A, 0.0) + np.where(A < 0, A * (-k), 0.0)
    A_eff = (Aw + np.diag(gt * inv)) / (1.0 + inv)
    c = 2.0 * vos / (1.0 + 2.0 * inv)
    b_eff = (b + vos * gt - c * np.where(A < 0, -A, 0.0).sum(axis=1)) / (1.0 + inv)
    return A_eff, b_eff


@pytest.mark.parametrize("A0", [1e4, 100.0, 3.0])
@pytest.mark.parametrize("s", [1.0, 2.5])
def test_finite_gain_matches_closed_form(A0, s):
    p = nonsym4()
    spec = HardwareSpec(opamp=OpAmpSpec(gain=A0))
    real = realised_matrix(design(p, spec, Mapping(scale=s, b_scale=1.0)), spec)
    A_eff, b_eff = finite_gain_closed_form(p.A, p.b, s, A0)
    np.testing.assert_allclose(real.A_eff, A_eff, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(real.b_eff, b_eff, rtol=1e-13, atol=1e-15)
    # the effect is not negligible at this gain: diagonal leak ≈ g_tot/(g A0)
    leak = (np.abs(p.A).sum(axis=1) + 1 + 1 / s) / A0
    assert np.abs(real.A_eff - p.A).max() >= 0.5 * leak.min() / (1 + 1 / A0)


def test_finite_gain_inverter_scales_negative_entries_only():
    """Off-diagonal negative entries are fed through the inverter of gain k = −1/(1 + 2/A0);
    positive off-diagonal entries only see the common 1/(1 + 1/A0)."""
    p = nonsym4()
    A0 = 50.0
    spec = HardwareSpec(opamp=OpAmpSpec(gain=A0))
    real = realised_matrix(design(p, spec, Mapping(b_scale=1.0)), spec)
    off = ~np.eye(4, dtype=bool)
    ratio = real.A_eff[off] / np.where(p.A[off] == 0, np.nan, p.A[off])
    pos = p.A[off] > 0
    neg = p.A[off] < 0
    np.testing.assert_allclose(ratio[pos], 1.0 / (1 + 1 / A0), rtol=1e-13)
    np.testing.assert_allclose(ratio[neg], (1.0 / (1 + 2 / A0)) / (1 + 1 / A0), rtol=1e-13)


@pytest.mark.parametrize("A0", [None, 100.0])
@pytest.mark.parametrize("which", ["positive", "mixed"])
def test_offset_shifts_b_by_closed_form(A0, which):
    """Ideal gain: Δb_eff,i = V_os (Σ_j A_ij + 1 + 1/s) — the signed row sum, because an inverter
    with offset outputs −V_j + 2V_os. For an all-positive matrix this is V_os·g_tot·τ/C."""
    if which == "positive":
        A = np.array([[1.2, 0.3, 0.1], [0.2, 0.9, 0.4], [0.05, 0.3, 1.5]])
        p = tt.Problem(A, np.array([0.4, -1.0, 0.7]))
    else:
        p = nonsym4()
    vos, s, bs = 1e-3, 2.5, 0.5
    spec = HardwareSpec(opamp=OpAmpSpec(offset_v=vos, gain=A0))
    values = design(p, spec, Mapping(scale=s, b_scale=bs))
    real = realised_matrix(values, spec)
    ref = realised_matrix(values, spec.replace(**{"opamp.offset_v": 0.0}))
    # exact: M and A_eff never read offset_v, so both are the same arithmetic on the same values
    np.testing.assert_allclose(real.A_eff, ref.A_eff, rtol=0, atol=0)         # offset moves b only
    shift = (real.b_eff - ref.b_eff) * bs                                      # volts·(τ/C)·g = volts
    if A0 is None:
        expected = vos * (p.A.sum(axis=1) + 1.0 + 1.0 / s)
        if which == "positive":
            g = s / spec.r0_ohm
            g_tot = (1.0 / values.r_entry).sum(axis=1) + 1 / values.r_in + 1 / values.r_noise
            brief = vos * g_tot * values.nominal_tau_s / spec.c_farad      # offset·g_tot·τ/C
            np.testing.assert_allclose(expected, brief, rtol=1e-13)
            assert np.isclose(values.nominal_tau_s, spec.c_farad / g, rtol=1e-15)
    else:
        _, b0 = finite_gain_closed_form(p.A, np.zeros(p.d), s, A0, vos)
        expected = b0
    np.testing.assert_allclose(shift, expected, rtol=1e-10, atol=1e-18)
    assert np.abs(shift).min() > 1e-4                                          # visible at 1 mV


def test_twin_without_noise_converges_to_the_realised_fixed_point_not_to_x_star():
    """With A0 = 100 the board solves A_eff x = b_eff, ~3 % away from A⁻¹b; a long noiseless run
    must land on x_b = M⁻¹f. Transient bound: the averaging window starts where the nominal
    transient is below 1e-3‖x*‖ and decays at rate ≥ λ_min(A_eff)/τ ≈ 0.99/τ, so its share of a
    T = 400τ − t_settle window is ≤ 1e-3/(0.99·380) ≈ 3e-6 of ‖x‖ — the bound below is 1e-4."""
    p = nonsym4()
    spec = HardwareSpec(opamp=OpAmpSpec(gain=100.0), kappa0_v2=1e-4)
    real = realised_matrix(design(p, spec), spec)
    x_b = real.x_fixed_point
    assert rel(x_b, p.x_exact) > 0.01
    for backend in ("twin", "twin-em"):
        res = tt.simulate(p, spec, tt.SimConfig(t_end="400tau", noise="none"), backend=backend)
        assert rel(res.x_final, x_b) < 1e-10                      # e^{−0.97·400} of the start
        assert rel(res.x_mean, x_b) < 1e-4
        assert rel(res.x_mean, p.x_exact) > 100 * rel(res.x_mean, x_b)


# ---------------------------------------------------------------------------------------------
# tolerance
# ---------------------------------------------------------------------------------------------
def test_tolerance_error_floor_equals_hand_computation():
    p = nonsym4()
    spec = HardwareSpec(r_tolerance=0.01, board_seed=1)
    real = realised_matrix(design(p, spec), spec)
    x = np.linalg.solve(p.A, p.b)
    by_hand = np.linalg.norm(np.linalg.solve(real.A_eff, real.b_eff) - x) / np.linalg.norm(x)
    assert error_floor(p, real) == pytest.approx(by_hand, rel=1e-10)
    assert by_hand > 1e-4                                             # a 1 % board is not ideal


def test_tolerance_floor_matches_first_order_propagation():
    """Mean squared floor over K boards against first-order error propagation.

    Each resistor is R(1 + t z), z ~ N(0, 1) independent. With an ideal op-amp, τ and C cancel and
        A_eff,ij = A_ij/(1 + t z_ij) · [A_ij < 0: (1 + t z_fb,j)/(1 + t z_ii,j)],
        b_eff,i = b_i/(1 + t z_in,i)
    (R_n adds no drift). To first order δx = A⁻¹(δb − δA x), so with c_i = A⁻¹e_i
        E‖δx‖² = t² [Σ_i ‖c_i‖² b_i² + Σ_ij ‖c_i‖² A_ij² x_j² + 2 Σ_j ‖Σ_{i: A_ij<0} c_i A_ij x_j‖²]
    (the inverter deviate z_fb − z_ii, variance 2, is shared by column j's negative entries).
    σ of the sample mean of floor² is its sample sd/√K (≈ 3 % at K = 1000); second-order terms
    are O(t²κ²) ≈ 5e-4 relative — the tolerance is 4σ plus 1 %.
    """
    p = nonsym4()
    t, K = 0.01, 1000
    A, b, x = p.A, p.b, p.x_exact
    Ai = np.linalg.inv(A)
    cn = (Ai ** 2).sum(axis=0)                                  # ‖c_i‖²
    pred = (cn * b ** 2).sum() + (cn[:, None] * A ** 2 * x[None, :] ** 2).sum()
    for j in range(p.d):
        neg = A[:, j] < 0
        pred += 2 * np.sum((Ai[:, neg] @ (A[neg, j] * x[j])) ** 2)
    pred *= t ** 2 / np.dot(x, x)
    f2 = np.empty(K)
    for k in range(K):
        spec = HardwareSpec(r_tolerance=t, board_seed=k)
        f2[k] = error_floor(p, realised_matrix(design(p, spec), spec)) ** 2
    se = f2.std(ddof=1) / np.sqrt(K)
    assert abs(f2.mean() - pred) <= K_SIGMA * se + 0.01 * pred, (f2.mean(), pred, se)
    # order of magnitude, as docs/model.md#floor states it: floor ≈ ε_c·κ(A)·O(1)
    assert 0.1 * t < np.sqrt(pred) < 10 * t * np.linalg.cond(A)


def test_capacitor_tolerance_scales_rows_but_keeps_the_fixed_point():
    """C_i multiplies row i of both M and f by C_nom/C_i (τ stays nominal), so A_eff = diag(C/C_i)·A,
    b_eff likewise, and the fixed point is untouched; the noise gain scales the same way."""
    p = nonsym4()
    spec = HardwareSpec(c_tolerance=0.05, board_seed=3)
    values = design(p, spec)
    real = realised_matrix(values, spec)
    row = spec.c_farad / values.c
    assert np.abs(row - 1).max() > 0.01
    np.testing.assert_allclose(real.A_eff, row[:, None] * p.A, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(real.b_eff, row * p.b, rtol=1e-13)
    np.testing.assert_allclose(real.noise_gain, row, rtol=1e-13)
    assert error_floor(p, real) < 1e-13


def test_damping_realises_a_plus_lambda():
    p = nonsym4()
    spec = HardwareSpec()
    real = realised_matrix(design(p, spec, Mapping(damping=0.5)), spec)
    np.testing.assert_allclose(real.A_eff, p.A + 0.5 * np.eye(p.d), atol=1e-13)


def test_damping_is_its_own_resistor():
    p = nonsym4()
    values = design(p, HardwareSpec(), Mapping(damping=0.5))
    np.testing.assert_allclose(values.r_damp, 1.0 / (values.g_siemens * 0.5), rtol=1e-12)


def test_board_seed_and_not_sim_config_decide_the_board():
    p = nonsym4()
    spec = HardwareSpec(r_tolerance=0.01, c_tolerance=0.02, resistor_bits=8, r_min_ohm=100.0, r_max_ohm=1e5,
                        dac_bits=10, board_seed=4)
    m = Mapping(rounding="stochastic")
    a = realised_matrix(design(p, spec, m), spec)
    b = realised_matrix(design(p, spec, m), spec)
    c = realised_matrix(design(p, spec.replace(board_seed=5), m), spec)
    # exact: determinism, one board computation (same spec, board_seed) run twice in one process
    np.testing.assert_array_equal(a.A_eff, b.A_eff)
    np.testing.assert_array_equal(a.b_eff, b.b_eff)   # exact: as above
    assert np.abs(a.A_eff - c.A_eff).max() > 1e-4
    # the simulated board does not depend on how it is simulated: noiseless runs with different
    # noise seeds, output grids and noise steps all land on this board's fixed point
    finals = []
    for cfg in (tt.SimConfig(t_end="300tau", noise="none", seed=0),
                tt.SimConfig(t_end="300tau", noise="none", seed=99, dt_out="0.7tau"),
                tt.SimConfig(t_end="300tau", noise="none", seed=3, dt_out="0.5tau", noise_step="0.01tau")):
        finals.append(tt.simulate(p, spec, cfg, mapping=m).x_final)
    for f in finals:
        assert rel(f, a.x_fixed_point) < 1e-10


# ---------------------------------------------------------------------------------------------
# quantisation and range
# ---------------------------------------------------------------------------------------------
QSPEC = dict(r_min_ohm=100.0, r_max_ohm=1e5)


@pytest.mark.parametrize("bits", [4, 8, 12])
def test_quantised_conductances_lie_on_the_grid(bits):
    p = spd(6, seed=11)
    spec = HardwareSpec(resistor_bits=bits, **QSPEC)
    values = design(p, spec)
    gmin, gmax = 1 / spec.r_max_ohm, 1 / spec.r_min_ohm
    step = (gmax - gmin) / (2 ** bits - 1)
    present = values.sign != 0
    assert present.sum() == (p.A != 0).sum()                       # nothing dropped here
    Gq = 1.0 / values.r_entry[present]
    k = (Gq - gmin) / step
    assert np.all(np.abs(k - np.rint(k)) < 1e-8)                  # on the grid (round-off of 1/R)
    assert k.min() > -1e-8 and k.max() < 2 ** bits - 1 + 1e-8
    # nearest rounding of the nominal conductance g|A_ij|; the report says the worst relative error
    gc = values.g_siemens * np.abs(p.A[present])
    err = np.abs(Gq - gc)
    assert err.max() <= 0.5 * step * (1 + 1e-9)
    assert values.report["quantisation_max_rel"] == pytest.approx(float((err / gc).max()), rel=1e-9)
    # automatic scale puts the largest entry exactly at r_min
    assert values.r_entry[present].min() == pytest.approx(spec.r_min_ohm, rel=1e-12)


def tiny_entry_problem(n_tiny: int) -> tt.Problem:
    A = spd(5, seed=2).A.copy()
    amax = np.abs(A).max()
    for (i, j) in [(0, 3), (3, 0), (1, 4)][:n_tiny]:
        A[i, j] = 1e-4 * amax          # needs R = r_min·1e4 = 1 MΩ > r_max = 100 kΩ
    return tt.Problem(A, np.ones(5))


@pytest.mark.parametrize("n_tiny", [1, 3])
@pytest.mark.parametrize("bits", [None, 8])
def test_entries_beyond_r_max_are_dropped_with_a_warning(n_tiny, bits):
    p = tiny_entry_problem(n_tiny)
    spec = HardwareSpec(resistor_bits=bits, **QSPEC)
    with pytest.warns(RuntimeWarning, match=rf"^{n_tiny} matrix entries .*dropped"):
        values = design(p, spec)
    assert values.report["dropped"] == n_tiny and values.report["clipped"] == 0
    tiny = np.abs(p.A) < 1e-3 * np.abs(p.A).max()
    assert tiny.sum() == n_tiny
    assert np.all(values.sign[tiny] == 0) and np.all(np.isinf(values.r_entry[tiny]))
    real = realised_matrix(values, spec)
    assert np.all(real.A_eff[tiny] == 0)   # exact: a dropped resistor is a literal zero conductance
    assert values.report["error_floor"] == pytest.approx(error_floor(p, real), rel=1e-12)


@pytest.mark.parametrize("bits", [None, 8])
def test_entries_beyond_r_max_are_clipped_on_request(bits):
    p = tiny_entry_problem(2)
    spec = HardwareSpec(resistor_bits=bits, **QSPEC)
    with pytest.warns(RuntimeWarning, match=r"^2 matrix entries .*clipped"):
        values = design(p, spec, Mapping(out_of_range="clip"))
    assert values.report["clipped"] == 2 and values.report["dropped"] == 0
    tiny = np.abs(p.A) < 1e-3 * np.abs(p.A).max()
    np.testing.assert_allclose(values.r_entry[tiny], spec.r_max_ohm, rtol=1e-9)
    np.testing.assert_array_equal(values.sign[tiny], np.sign(p.A[tiny]))   # exact: sign patterns


def test_a_row_with_nothing_realisable_is_refused():
    A = np.diag([1.0, 1e-5, 1.0])
    with pytest.raises(ValueError, match="row 1"):
        design(tt.Problem(A, np.ones(3)), HardwareSpec(**QSPEC))


@pytest.mark.parametrize("bits", [4, 6, 10])
def test_dac_values_lie_on_the_lsb_grid(bits):
    p = spd(6, seed=3, rhs_scale=2.0)
    spec = HardwareSpec(dac_bits=bits, v_range_v=5.0)
    values = design(p, spec)
    lsb = 2 * spec.v_range_v / 2 ** bits
    k = values.v_in / lsb
    np.testing.assert_allclose(k, np.rint(k), rtol=0, atol=1e-9)
    assert np.all(values.v_in >= -spec.v_range_v) and np.all(values.v_in <= spec.v_range_v - lsb)
    assert np.abs(values.v_in + p.b * values.b_scale).max() <= 0.5 * lsb * (1 + 1e-12)
    real = realised_matrix(values, spec)
    np.testing.assert_allclose(real.b_eff, -values.v_in / values.b_scale, rtol=1e-13)


@pytest.mark.parametrize("backend", ["twin", "twin-em"])
def test_adc_output_lies_on_the_adc_grid(backend):
    p = spd(4, seed=5, rhs_scale=20.0)                   # big b: the mapping scales it (b_scale < 1)
    spec = HardwareSpec(adc_bits=8, v_range_v=10.0, kappa0_v2=1e-3)
    res = tt.simulate(p, spec, tt.SimConfig(t_end="5tau", seed=2), backend=backend)
    assert res.b_scale < 1
    lsb = 2 * spec.v_range_v / 2 ** 8
    k = res.states * res.b_scale / lsb
    np.testing.assert_allclose(k, np.rint(k), rtol=0, atol=1e-9)
    assert len(np.unique(np.rint(k))) > 10                # the readout is not stuck on one code


# ---------------------------------------------------------------------------------------------
# exact path against the numba kernel
# ---------------------------------------------------------------------------------------------
TOL_BOARD = {"r_tolerance": 0.02, "c_tolerance": 0.02, "board_seed": 9}


@pytest.mark.parametrize("over, board", [
    ({}, {}), ({"gain": 1e4}, {}), ({"gbw_hz": 2e7}, {}), ({"gbw_hz": 2e7, "gain": 1e4}, {}),
    ({"offset_v": 1e-3}, {}),
    # tolerances make R_f ≠ R_i in the inverters: k_j and c_j of realised_matrix against the KCL field
    ({"gain": 30.0, "offset_v": -2e-3}, TOL_BOARD),
    ({"gbw_hz": 5e6, "gain": 100.0, "offset_v": 1e-3}, TOL_BOARD),
], ids=lambda o: ",".join(f"{k}={v:g}" for k, v in o.items()) or "-")
@pytest.mark.parametrize("cfg", [dict(t_end="5tau"), dict(t_end="5tau", dt_out="0.5tau")], ids=["m1", "m>1"])
def test_exact_twin_equals_numba_kernel_pathwise(over, board, cfg):
    """Both integrate the same affine model exactly over each ZOH noise step (no clipping, one
    sub-step): they differ by round-off only. Static op-amps: ``twin`` integrates the closed-form
    realised_matrix, ``twin-em`` the KCL field of circuit_field — two derivations of one board."""
    p = spd(6, seed=21)
    assert (p.A < 0).any()                                         # inverters in use
    spec = HardwareSpec(kappa0_v2=1e-4, opamp=OpAmpSpec(**over), **board)
    c = tt.SimConfig(seed=7, noise="pwl", **cfg)
    a = tt.simulate(p, spec, c, backend="twin")
    b = tt.simulate(p, spec, c, backend="twin-em")
    assert b.stats["path"] == "numba-exp-euler" and a.stats["path"].startswith("exact")
    span = np.ptp(a.states)
    assert span > 0.1
    assert np.abs(a.states - b.states).max() <= 1e-12 * span


# ---------------------------------------------------------------------------------------------
# rails and slew (non-linear: numba kernel)
# ---------------------------------------------------------------------------------------------
def test_rails_clip_outputs_and_the_time_average():
    """x* = (3.16, −0.34, −0.91) with rails at ±1 V: node 0 sits on the +1 V rail (its drift
    b_0 − A_0·x stays at +2.03 > 0, so the integrator winds up), the others solve the reduced
    system A_rr x_r = b_r − A_r0·1 V. Noise: the window average of the reduced OU has covariance
    2κ0(τ/T)A_rr⁻² (docs/model.md#time-average); σ_i ≤ sqrt(2κ0/T)·‖A_rr⁻¹‖ = sqrt(2e-4/189)·1.4 ≈ 1.5e-3."""
    A = np.array([[1.0, 0.2, 0.1], [0.2, 1.2, -0.3], [0.1, -0.3, 0.9]])
    p = tt.Problem(A, np.array([3.0, 0.5, -0.4]))
    vsat, kappa0 = 1.0, 1e-4
    assert np.abs(p.x_exact).max() > 3 * vsat
    spec = HardwareSpec(kappa0_v2=kappa0, opamp=OpAmpSpec(v_sat_v=vsat))
    xr = np.linalg.solve(A[1:, 1:], p.b[1:] - A[1:, 0] * vsat)
    assert p.b[0] - A[0, 0] * vsat - A[0, 1:] @ xr > 1.0 and np.abs(xr).max() < 0.6 * vsat
    for noise in ("none", "pwl"):
        cfg = tt.SimConfig(t_end="200tau", seed=1, noise=noise)
        res = tt.simulate(p, spec, cfg, mapping=Mapping(b_scale=1.0))
        assert res.stats["path"] == "numba-exp-euler"
        assert np.abs(res.states).max() <= vsat * (1 + 1e-12)
        w = res.states[res.window]
        np.testing.assert_allclose(w[:, 0], vsat, rtol=0, atol=1e-12)          # pinned on the rail
        T = res.t_end_s - res.times[res.window][0]
        sigma = np.sqrt(2 * kappa0 * res.tau_s / T) * np.linalg.norm(np.linalg.inv(A[1:, 1:]), 2)
        tol = 1e-5 if noise == "none" else K_SIGMA * sigma
        np.testing.assert_allclose(res.x_mean[1:], xr, rtol=0, atol=tol)


def test_rails_auto_b_scale_keeps_the_board_off_the_rails():
    """Without a fixed b_scale the mapping scales b so x* sits within half the rails (docs/circuit.md#voltage-scale)."""
    A = np.array([[1.0, 0.2, 0.1], [0.2, 1.2, -0.3], [0.1, -0.3, 0.9]])
    p = tt.Problem(A, np.array([3.0, 0.5, -0.4]))
    spec = HardwareSpec(kappa0_v2=0.0, opamp=OpAmpSpec(v_sat_v=1.0))
    res = tt.simulate(p, spec, tt.SimConfig(t_end="100tau"))
    assert res.b_scale == pytest.approx(0.5 / np.abs(p.x_exact).max(), rel=1e-12)
    assert rel(res.x_final, p.x_exact) < 1e-10


def test_kernel_converges_first_order_while_slew_limits():
    """Exponential Euler is first order in the sub-step while the slew clip is active
    (circuit_field docstring): successive differences halve with SUBSTEP_RHO. Ratio for y_h = y +
    c·h + O(h²): (y_{4h} − y_{2h})/(y_{2h} − y_h) = 2 + O(h); band 1.6–2.5."""
    p = spd(6, seed=3, rhs_scale=3.0)
    base = dict(kappa0_v2=1e-4)
    slew = HardwareSpec(**base, opamp=OpAmpSpec(gbw_hz=1e7, slew_v_per_s=2e5))
    cfg = tt.SimConfig(t_end="10tau", seed=7)
    m = Mapping(b_scale=1.0)
    lin = tt.simulate(p, HardwareSpec(**base, opamp=OpAmpSpec(gbw_hz=1e7)), cfg, mapping=m)
    runs, subs = {}, {}
    mp = pytest.MonkeyPatch()
    try:
        for rho in (0.4, 0.2, 0.1, 0.05):
            mp.setattr(ou, "SUBSTEP_RHO", rho)
            r = tt.simulate(p, slew, cfg, mapping=m)
            runs[rho], subs[rho] = r.states, r.stats["substeps"]
    finally:
        mp.undo()
    span = np.ptp(runs[0.05])
    assert np.abs(lin.states - runs[0.05]).max() > 0.2 * span          # the slew limit really bites
    assert [subs[r] for r in (0.4, 0.2, 0.1, 0.05)] == [subs[0.4] * 2 ** k for k in range(4)]
    d = [np.abs(runs[a] - runs[b]).max() for a, b in ((0.4, 0.2), (0.2, 0.1), (0.1, 0.05))]
    for coarse, fine in zip(d[:-1], d[1:]):
        assert 1.6 <= coarse / fine <= 2.5, d
    # differences to the finest run shrink too (0.4 → 0.2 → 0.1)
    to_finest = [np.abs(runs[r] - runs[0.05]).max() for r in (0.4, 0.2, 0.1)]
    assert to_finest[0] > to_finest[1] > to_finest[2]
    assert to_finest[2] < 0.01 * span


# ---------------------------------------------------------------------------------------------
# gain-bandwidth pole: eigenvalues of the augmented linear system
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gbw, A0", [(2e7, None), (1e6, None), (2e7, 1e3), (3e5, 50.0), (1e9, None)])
def test_gbw_1x1_eigenvalues_match_characteristic_polynomial(gbw, A0):
    """A = [[1]], s = 1: state (u, p, q), u = v(s) − v(o), p/q the pole nodes. With γ = g_tot/g = 3
    (entry, R_in and R_n = R0 all 1/g), τ = C/g, ω_t = 2πGBW, ω_p = ω_t/A0:
        τ du/dt = p − γ(u + p),  dp/dt = −ω_t(u + p) − ω_p p,  dq/dt = −ω_t(p + q)/2 − ω_p q,
    so the (u, p) block has λ² + (γ/τ + ω_t + ω_p)λ + (ω_t + γω_p)/τ = 0 and q adds −(ω_t/2 + ω_p).
    As ω_t → ∞ the slow root → −(1 + γ/A0)/(τ(1 + 1/A0)), the static finite-gain A_eff/τ."""
    p = tt.Problem(np.array([[1.0]]), np.array([1.0]))
    spec = HardwareSpec(opamp=OpAmpSpec(gbw_hz=gbw, gain=A0))
    values = design(p, spec)
    ls = linear_system(field_params(values, spec))
    assert ls.F.shape == (3, 3)
    tau, wt = values.nominal_tau_s, 2 * np.pi * gbw
    wp = 0.0 if A0 is None else wt / A0
    gam = 3.0
    roots = np.r_[np.roots([1.0, gam / tau + wt + wp, (wt + gam * wp) / tau]), -(wt / 2 + wp)]
    ev = np.linalg.eigvals(ls.F)
    np.testing.assert_allclose(np.sort_complex(ev), np.sort_complex(roots.astype(complex)), rtol=1e-9)
    slow = ev[np.argmin(np.abs(ev))].real
    inv = 0.0 if A0 is None else 1.0 / A0
    static = -(1 + gam * inv) / (tau * (1 + inv))
    # slow root = static·(1 + O(γ/(ω_t τ))): first-order expansion of the quadratic's small root
    assert abs(slow / static - 1) <= 1.5 * gam / (wt * tau)
    # the output map is V = p
    np.testing.assert_allclose(ls.Cout, [[0.0, 1.0, 0.0]], atol=0)


def test_gbw_large_recovers_the_static_matrix_with_inverters():
    """nonsym4 (negative entries through the inverters): with GBW = 10 GHz the d slowest
    eigenvalues of the augmented 3d-state system are those of −A_eff/τ (finite gain 1e4), to
    O(g_tot/(g ω_t τ)) ≈ 4/6e4 relative; the 2d fast ones are near −ω_t."""
    p = nonsym4()
    spec = HardwareSpec(opamp=OpAmpSpec(gbw_hz=1e10, gain=1e4))
    values = design(p, spec)
    ls = linear_system(field_params(values, spec))
    ev = np.linalg.eigvals(ls.F)
    ev = ev[np.argsort(np.abs(ev))]
    static = np.linalg.eigvals(-realised_matrix(values, spec).M)
    slow = ev[:p.d]
    eps = (np.abs(p.A).sum(axis=1).max() + 2) / (2 * np.pi * 1e10 * values.nominal_tau_s)
    for lam in static:
        assert np.min(np.abs(slow - lam)) <= 4 * eps * np.abs(static).max()
    assert np.abs(ev[p.d:]).min() > 0.1 * 2 * np.pi * 1e10


# ---------------------------------------------------------------------------------------------
# error mitigation by averaging over stochastically rounded boards (arXiv 2401.16231)
# ---------------------------------------------------------------------------------------------
QBITS = dict(r_min_ohm=100.0, r_max_ohm=1e5)


def _fixed_points(p: tt.Problem, spec: HardwareSpec, K: int) -> np.ndarray:
    m = Mapping(rounding="stochastic")
    return np.array([realised_matrix(design(p, s, m), s).x_fixed_point
                     for s in (spec.replace(board_seed=k) for k in range(K))])


@pytest.mark.parametrize("bits", [6, 7])
def test_stochastic_rounding_is_unbiased_per_conductance(bits):
    """E[G_q] = G: each entry rounds up with probability p (its fractional position), so the mean
    over K boards has σ = Δ·sqrt(p(1−p)/K); Σ z² over the n entries is χ²_n (mean n, sd sqrt(2n)),
    bound n + 4·sqrt(2n). Entries exactly on the grid never move."""
    p = tt.builtin_example()
    spec = HardwareSpec(resistor_bits=bits, **QBITS)
    K = 600
    Gs = np.array([1.0 / design(p, spec.replace(board_seed=k), Mapping(rounding="stochastic")).r_entry
                   for k in range(K)])
    g = design(p, spec).g_siemens
    gc = g * np.abs(p.A)
    step = (1 / spec.r_min_ohm - 1 / spec.r_max_ohm) / (2 ** bits - 1)
    frac = (gc - 1 / spec.r_max_ohm) / step
    frac = frac - np.floor(frac)
    on_grid = (frac < 1e-9) | (frac > 1 - 1e-9)
    assert on_grid.sum() >= 1                                     # the largest entry sits at r_min
    np.testing.assert_allclose(Gs[:, on_grid], np.broadcast_to(gc[on_grid], Gs[:, on_grid].shape), rtol=1e-9)
    off = ~on_grid
    # only the two neighbouring levels occur
    lo = 1 / spec.r_max_ohm + np.floor((gc - 1 / spec.r_max_ohm) / step) * step
    below = np.abs(Gs[:, off] - lo[off]) < 1e-9 * step
    above = np.abs(Gs[:, off] - lo[off] - step) < 1e-9 * step
    assert np.all(below | above)
    z = (Gs[:, off].mean(axis=0) - gc[off]) / (step * np.sqrt(frac[off] * (1 - frac[off]) / K))
    n = off.sum()
    assert np.sum(z ** 2) <= n + K_SIGMA * np.sqrt(2 * n)


@pytest.mark.parametrize("bits", [6, 7])
def test_board_averaging_removes_the_first_order_error_on_the_builtin_example(bits):
    """Averaging K = 2000 stochastically rounded boards: the error of the mean is
    sqrt(bias² + σ²/K), σ² = E‖x_k − x‖² (estimated from the same sample). The second-order
    bias A⁻¹ Σ_ij Var(δA_ij)(A⁻¹)_ji x_j e_i (computed here, ≈ 5e-5 and 2e-5 relative) is below
    σ/√K/4 ≈ 2e-4, so the bound 4σ/√K (+ the bias) applies; it sits ≥ 3× below the
    nearest-rounding single-board floor (0.020 and 0.0082)."""
    p = tt.builtin_example()
    A, x = p.A, p.x_exact
    spec = HardwareSpec(resistor_bits=bits, **QBITS)
    K = 2000
    xs = _fixed_points(p, spec, K)
    nx = np.linalg.norm(x)
    sigma = np.sqrt(np.mean(np.sum((xs - x) ** 2, axis=1))) / nx
    e_avg = np.linalg.norm(xs.mean(axis=0) - x) / nx
    nearest = error_floor(p, realised_matrix(design(p, spec), spec))
    # second-order bias of E[(A + δA)⁻¹] b with independent zero-mean δA_ij of variance Δ_A² p(1−p)
    g = design(p, spec).g_siemens
    step = (1 / spec.r_min_ohm - 1 / spec.r_max_ohm) / (2 ** bits - 1)
    t = (g * np.abs(A) - 1 / spec.r_max_ohm) / step
    fr = t - np.floor(t)
    var = (step / g) ** 2 * fr * (1 - fr)
    Ai = np.linalg.inv(A)
    bias = np.linalg.norm(Ai @ (var * Ai.T * x[None, :]).sum(axis=1)) / nx
    assert bias < 0.25 * sigma / np.sqrt(K)
    assert e_avg <= K_SIGMA * sigma / np.sqrt(K) + bias
    assert e_avg < nearest / 3
    # single boards: a stochastically rounded entry has error variance p(1−p)Δ² against nearest's
    # min(p, 1−p)²Δ² (for uniform p: 1/6 against 1/12), so one board is a little worse than the
    # nearest-rounded one but of the same order (measured 2.0× and 2.7×; factor-2 margins)
    assert 0.5 * nearest < sigma < 4 * nearest


def test_board_average_bias_is_quadratic_in_the_step():
    """Exact expectation on a diagonal problem: x_i = g b_i/G_q,i with G_q ∈ {G_lo, G_hi} and
    P(G_hi) = p, so E[x_i]/x*_i − 1 = p(1−p)Δ²/(G_lo G_hi) — quadratic in the step Δ (ε → ε²),
    and Var(x_i/x*_i) = p(1−p)(G Δ/(G_lo G_hi))². β = mean over the small entries of the relative
    bias; the K-board estimate has σ_β = sqrt(Σ_i Var_i / K)/n. Entries sit 3–8 steps (6 bits)
    above g_min so that β/σ_β ≈ 30 at K = 2000."""
    d = 40
    a = np.r_[1.0, np.geomspace(0.04, 0.12, d - 1)]       # a_0 = 1 maps exactly onto r_min
    p = tt.Problem(np.diag(a), np.ones(d))
    K = 2000
    gmin, gmax = 1 / QBITS["r_max_ohm"], 1 / QBITS["r_min_ohm"]
    beta, sig, beta_hat = {}, {}, {}
    for bits in (6, 7):
        spec = HardwareSpec(resistor_bits=bits, **QBITS)
        step = (gmax - gmin) / (2 ** bits - 1)
        G = a * gmax
        t = (G - gmin) / step
        lo = gmin + np.floor(t) * step
        hi = lo + step
        pr = t - np.floor(t)
        e_rel = pr * (1 - pr) * step ** 2 / (lo * hi)
        v_rel = pr * (1 - pr) * (G * step / (lo * hi)) ** 2
        n = d - 1
        beta[bits] = e_rel[1:].mean()
        sig[bits] = np.sqrt(v_rel[1:].sum() / K) / n
        xs = _fixed_points(p, spec, K)
        beta_hat[bits] = (xs / p.x_exact - 1)[:, 1:].mean()
        assert abs(beta_hat[bits] - beta[bits]) <= K_SIGMA * sig[bits], (bits, beta_hat[bits], beta[bits])
        assert beta[bits] > 10 * sig[bits]
    # quadratic: Δ_6/Δ_7 = 127/63, so Δ² gives 4.06; p(1−p) and G_lo G_hi move it a little
    r_exact = beta[6] / beta[7]
    assert 3.0 <= r_exact <= 5.5
    r_hat = beta_hat[6] / beta_hat[7]
    r_sig = r_exact * np.hypot(sig[6] / beta[6], sig[7] / beta[7])    # delta method
    assert abs(r_hat - r_exact) <= K_SIGMA * r_sig
    assert 2.5 <= r_hat <= 6.5


def _run_cli_json(capsys, argv) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_realise_ensemble_lowers_the_floor(tmp_path, capsys):
    """K = 50 boards: the mean's error ≈ σ/√50 ≈ 0.041/7 = 0.006 (6 bits, see above) against the
    single nearest-rounded board's 0.020."""
    path = tmp_path / "q6.json"
    path.write_text(json.dumps({"resistor_bits": 6, **QBITS}))
    out = _run_cli_json(capsys, ["realise", "--spec", str(path), "--ensemble", "50", "--json"])
    assert out["ensemble"] == 50
    assert out["ensemble_error_floor"] < out["error_floor"] / 2
    p = tt.builtin_example()
    xs = _fixed_points(p, HardwareSpec(resistor_bits=6, **QBITS), 50)
    assert out["ensemble_error_floor"] == pytest.approx(rel(xs.mean(axis=0), p.x_exact), rel=1e-9)


def test_cli_realise_json_keys_and_ideal_values(capsys):
    out = _run_cli_json(capsys, ["realise", "--json"])
    for key in ("d", "tau_s", "scale", "b_scale", "dropped", "clipped", "a_rel_frobenius", "error_floor",
                "A_eff", "b_eff"):
        assert key in out, key
    p = tt.builtin_example()
    assert out["d"] == p.d and out["dropped"] == 0 and out["clipped"] == 0
    assert out["a_rel_frobenius"] < 1e-12 and out["error_floor"] < 1e-12
    np.testing.assert_allclose(np.array(out["A_eff"]), p.A, atol=1e-12)
    np.testing.assert_allclose(np.array(out["b_eff"]), p.b, atol=1e-12)
    # exact: scale and b_scale are the literal 1.0 of the no-scaling branches (JSON by repr)
    assert out["tau_s"] == pytest.approx(1e-6, rel=1e-12) and out["scale"] == 1.0 and out["b_scale"] == 1.0
    assert out["ensemble_error_floor"] is None


def test_cli_realise_json_reports_a_nonideal_board(tmp_path, capsys):
    """Finite gain: A_eff in the JSON is the closed form above (s = 1)."""
    path = tmp_path / "gain.json"
    path.write_text(json.dumps({"opamp": {"gain": 100.0}}))
    out = _run_cli_json(capsys, ["realise", "--spec", str(path), "--json"])
    p = tt.builtin_example()
    A_eff, b_eff = finite_gain_closed_form(p.A, p.b, 1.0, 100.0)
    np.testing.assert_allclose(np.array(out["A_eff"]), A_eff, rtol=1e-12)
    np.testing.assert_allclose(np.array(out["b_eff"]), b_eff, rtol=1e-12)
    a_rel = np.linalg.norm(A_eff - p.A) / np.linalg.norm(p.A)
    assert out["a_rel_frobenius"] == pytest.approx(a_rel, rel=1e-9)
    assert out["nonideal_fields"] == ["opamp.gain"]


def test_cli_realise_with_dropped_entries_warns_and_reports(tmp_path, capsys):
    p = tiny_entry_problem(3)
    np.savetxt(tmp_path / "A.csv", p.A, delimiter=",")
    path = tmp_path / "range.json"
    path.write_text(json.dumps(QSPEC))
    with pytest.warns(RuntimeWarning, match="3 matrix entries"):
        out = _run_cli_json(capsys, ["realise", str(tmp_path / "A.csv"), "--spec", str(path), "--json"])
    assert out["dropped"] == 3 and out["error_floor"] > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        real = realised_matrix(design(p, HardwareSpec(**QSPEC)), HardwareSpec(**QSPEC))
    assert out["error_floor"] == pytest.approx(error_floor(p, real), rel=1e-9)
