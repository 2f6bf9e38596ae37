"""Twin against ngspice, one non-ideality at a time and all together (issue 4 targets).

Same board, same seed, same PWL zero-order-hold noise path (docs/backends.md#pathwise): the twin (exact
OU, exact augmented OU, or the numba kernel for rails/slew) and ngspice must agree pathwise to
≤ 1 % of the signal range and in the time average to ≤ 0.5 % (thermotwin.validate targets). The
knobs are those of :func:`thermotwin.validate.knob_specs`, so ``thermotwin validate`` and these
tests check the same boards. Netlist-structure checks at the end need no ngspice.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import thermotwin as tt
from thermotwin.bench import bench_matrix
from thermotwin.circuit.design import Mapping, design
from thermotwin.circuit.netlist import render_netlist
from thermotwin.circuit.opamp import POLE_CAP_F
from thermotwin.circuit.spec import HardwareSpec
from thermotwin.validate import MEAN_TARGET, PATH_TARGET, knob_specs

KAPPA0 = 1e-5          # as `thermotwin validate`
T_END = "10tau"
SEED = 0
#: Regression budget below the issue's 1 % target for a single knob: an exact ZOH twin matches
#: ngspice to ~1e-6 of the range (docs/noise.md#pwl); the PWL ramps (1e-4 of a step) and ngspice's step
#: control add ~1e-5, the first-order kernel under rails ~5e-5 (measured). 1e-3 leaves 20×
#: headroom. "All together" is held to the issue target only: with r_min = 100 Ω the auto scale
#: makes τ ~10× shorter, GBW and slew bind hard, and the kernel's first-order error is ~0.6 % of
#: the range at SUBSTEP_RHO = 0.05 (test_all_knobs_gap_is_the_kernel_step_error checks that).
PATH_BUDGET = 1e-3

PROB4 = bench_matrix(4, SEED)
KNOBS4 = knob_specs(float(np.abs(PROB4.x_exact).max()))


def _compare(prob: tt.Problem, over: dict):
    spec = HardwareSpec.from_dict({"kappa0_v2": KAPPA0, **over})
    cfg = tt.SimConfig(t_end=T_END, seed=SEED, noise="pwl")
    m = Mapping(b_scale=1.0)
    tw = tt.simulate(prob, spec, cfg, backend="twin", mapping=m)
    sp = tt.simulate(prob, spec, cfg, backend="ngspice", mapping=m)
    assert tw.states.shape == sp.states.shape
    np.testing.assert_allclose(tw.times, sp.times, rtol=1e-12, atol=0)
    span = float(np.ptp(sp.states))
    path = float(np.abs(tw.states - sp.states).max() / span)
    mean = float(np.linalg.norm(tw.x_mean - sp.x_mean) / np.linalg.norm(sp.x_mean))
    return spec, tw, sp, span, path, mean


def _budget(spec: HardwareSpec, span: float) -> float:
    """With an ADC both outputs are rounded to its grid: a sub-LSB analog difference can still
    flip one code, so the pathwise budget gains one LSB."""
    if spec.opamp.slew_v_per_s is not None:
        # the slew limit runs in the first-order exponential-Euler kernel: its step error at
        # SUBSTEP_RHO = 0.05 was 3.6e-3 of the range on this board (ngspice is the converged value)
        return 5e-3
    if spec.adc_bits is None:
        return PATH_BUDGET
    return PATH_BUDGET + 2 * spec.v_range_v / 2 ** spec.adc_bits / span


@pytest.mark.ngspice
@pytest.mark.parametrize("knob", list(KNOBS4))
def test_twin_matches_ngspice_per_knob_d4(knob):
    spec, tw, sp, span, path, mean = _compare(PROB4, KNOBS4[knob])
    assert span > 0.1
    assert path <= PATH_TARGET, f"{knob}: pathwise {path:.3g} of the range"
    assert mean <= MEAN_TARGET, f"{knob}: time averages differ by {mean:.3g}"
    if knob != "all together":
        assert path <= _budget(spec, span), f"{knob}: pathwise {path:.3g} (regression budget)"
    if spec.opamp.v_sat_v is not None:
        lsb = 0.0 if spec.adc_bits is None else 2 * spec.v_range_v / 2 ** spec.adc_bits
        assert np.abs(sp.states).max() <= spec.opamp.v_sat_v * (1 + 1e-6) + lsb
        assert np.abs(tw.states).max() == pytest.approx(spec.opamp.v_sat_v, rel=1e-9, abs=lsb)


#: A knob's effect on the path must exceed what the twin–ngspice comparison resolves (~1e-5 of
#: the range, measured; docs/noise.md#ngspice) by 10×, or the comparison cannot tell whether ngspice models it.
KNOB_EFFECT_MIN = 1e-4


@pytest.mark.parametrize("knob", [k for k in KNOBS4 if k != "ideal"])
def test_every_validate_knob_changes_the_board(knob):
    """Twin only: each knob of ``thermotwin validate`` moves the path measurably away from the
    ideal board; the slew row is compared with the GBW board it builds on."""
    cfg = tt.SimConfig(t_end=T_END, seed=SEED, noise="pwl")
    m = Mapping(b_scale=1.0)
    over = KNOBS4[knob]
    run = tt.simulate(PROB4, HardwareSpec.from_dict({"kappa0_v2": KAPPA0, **over}), cfg, mapping=m)
    base_over = {}
    if "slew_v_per_s" in over.get("opamp", {}) and len(over) == 1:
        base_over = {"opamp": {k: v for k, v in over["opamp"].items() if k != "slew_v_per_s"}}
    base = tt.simulate(PROB4, HardwareSpec.from_dict({"kappa0_v2": KAPPA0, **base_over}), cfg, mapping=m)
    effect = np.abs(run.states - base.states).max() / np.ptp(base.states)
    assert effect >= KNOB_EFFECT_MIN, f"{knob}: effect {effect:.3g} of the range"


@pytest.mark.ngspice
@pytest.mark.parametrize("slew", [5e5, 2e5])
def test_twin_matches_ngspice_when_slew_binds(slew, monkeypatch):
    """GBW 10 MHz with slew 0.5 and 0.2 V/µs: the output needs ~1 V/µs, so the slew clip is
    active (it moves the path by > 10 % of the range). The kernel is first order while clipping:
    the gap to ngspice falls ~4× when SUBSTEP_RHO falls 4× (band 2.5–6)."""
    from thermotwin.solver import ou

    over = {"opamp": {"gbw_hz": 1e7, "slew_v_per_s": slew}}
    spec, tw, sp, span, path, mean = _compare(PROB4, over)
    assert path <= PATH_TARGET and mean <= MEAN_TARGET, (path, mean)
    cfg = tt.SimConfig(t_end=T_END, seed=SEED, noise="pwl")
    lin = tt.simulate(PROB4, HardwareSpec.from_dict({"kappa0_v2": KAPPA0, "opamp": {"gbw_hz": 1e7}}), cfg,
                      mapping=Mapping(b_scale=1.0))
    assert np.abs(lin.states - sp.states).max() > 0.1 * span
    monkeypatch.setattr(ou, "SUBSTEP_RHO", ou.SUBSTEP_RHO / 4)
    fine = tt.simulate(PROB4, spec, cfg, mapping=Mapping(b_scale=1.0))
    fine_path = np.abs(fine.states - sp.states).max() / span
    assert 2.5 <= path / fine_path <= 6.0, (path, fine_path)


@pytest.mark.ngspice
def test_twin_matches_ngspice_all_knobs_d16():
    prob = bench_matrix(16, SEED)
    over = knob_specs(float(np.abs(prob.x_exact).max()))["all together"]
    # 100 Ω … 100 kΩ cannot hold the smallest entries of this matrix: design drops them and says so
    # (once for the twin, once for ngspice)
    with pytest.warns(RuntimeWarning, match=r"matrix entries need more than r_max_ohm") as rec:
        spec, tw, sp, span, path, mean = _compare(prob, over)
    assert len([w for w in rec if issubclass(w.category, RuntimeWarning)]) == 2
    assert tw.stats["path"] == "numba-exp-euler"
    assert path <= PATH_TARGET and mean <= MEAN_TARGET, (path, mean)


@pytest.mark.ngspice
def test_all_knobs_gap_is_the_kernel_step_error(monkeypatch):
    """The remaining twin–ngspice gap with every knob on (ADC off, so the gap is analog) is the
    numba kernel's first-order sub-step error: dividing SUBSTEP_RHO by 4 divides it by ~4 (band
    2.5–6 for gap = c·h + O(h²) + a floor ≲ 1e-5 from the PWL representation), so ngspice is the
    limit the twin converges to."""
    from thermotwin.solver import ou

    over = {k: v for k, v in KNOBS4["all together"].items() if k != "adc_bits"}
    gaps = {}
    for rho in (0.05, 0.0125):
        monkeypatch.setattr(ou, "SUBSTEP_RHO", rho)
        _, tw, _, _, path, mean = _compare(PROB4, over)
        assert tw.stats["path"] == "numba-exp-euler"
        gaps[rho] = path
    assert gaps[0.05] <= PATH_TARGET
    assert 2.5 <= gaps[0.05] / gaps[0.0125] <= 6.0, gaps


# ---------------------------------------------------------------------------------------------
# netlist structure of the op-amp macromodel (no ngspice needed)
# ---------------------------------------------------------------------------------------------
NUM = r"(-?[0-9.]+(?:e-?[0-9]+)?)"


def _netlist(opamp: dict, v0="rhs"):
    prob = bench_matrix(3, SEED)
    spec = HardwareSpec(kappa0_v2=KAPPA0, opamp=tt.OpAmpSpec(**opamp))
    cfg = tt.SimConfig(t_end="5tau", seed=SEED, v0=v0)
    return prob, spec, render_netlist(prob, spec, cfg, Mapping(b_scale=1.0))


def _ic(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith(".ic "):
            for m in re.finditer(r"v\((\w+)\)=" + NUM, line):
                out[m.group(1)] = float(m.group(2))
    return out


def test_netlist_gbw_slew_rails_primitives():
    gbw, slew, vsat, a0, vos = 2e7, 1e6, 1.5, 1e4, 1e-3
    prob, spec, text = _netlist(dict(gbw_hz=gbw, slew_v_per_s=slew, v_sat_v=vsat, gain=a0, offset_v=vos))
    lines = text.splitlines()
    # exact: input literals (vos, POLE_CAP_F, ±vsat) printed by repr (text checks here and below)
    assert f"Vos vos 0 DC {vos!r}" in lines
    for i in range(prob.d):
        for kind, inn, out, pole in (("int", f"s{i}", f"o{i}", f"p{i}"), ("inv", f"m{i}", f"n{i}", f"q{i}")):
            # slew: a clipped B-source current into the pole node
            pat = (rf"^B{kind}{i}g 0 {pole} I = min\(max\({NUM}\*\(v\(vos\)-v\({inn}\)\), {NUM}\), {NUM}\)$")
            m = [re.match(pat, ln) for ln in lines]
            m = [x for x in m if x]
            assert len(m) == 1, pat
            gm, lo, hi = (float(v) for v in m[0].groups())
            assert gm / POLE_CAP_F == pytest.approx(2 * np.pi * gbw, rel=1e-12)     # ω_t = gm/C_p
            # exact: lo is printed as fmt(-limit), hi as fmt(limit); negation is exact
            assert hi / POLE_CAP_F == pytest.approx(slew, rel=1e-12) and lo == -hi  # SR = I_max/C_p
            # pole capacitor to ground and the DC-gain resistor: ω_p = 1/(R_p C_p) = ω_t/A0
            assert f"C{kind}{i}p {pole} 0 {POLE_CAP_F!r}" in lines
            rp = [float(ln.split()[3]) for ln in lines if ln.startswith(f"R{kind}{i}p {pole} 0 ")]
            assert len(rp) == 1 and rp[0] * gm == pytest.approx(a0, rel=1e-12)
            # rails: the output buffer is a clipped B-source voltage
            assert f"B{kind}{i}o {out} 0 V = min(max(v({pole}), {-vsat!r}), {vsat!r})" in lines
            assert not any(ln.startswith((f"G{kind}{i}g", f"E{kind}{i}o")) for ln in lines)
    ic = _ic(text)
    values = design(prob, spec, Mapping(b_scale=1.0))
    for i in range(prob.d):
        assert {f"o{i}", f"p{i}", f"q{i}"} <= set(ic)
        # the integrator's pole node starts at its output (v0 = b), the inverter's near −V_i
        assert ic[f"p{i}"] == pytest.approx(ic[f"o{i}"], rel=1e-12)
        assert ic[f"o{i}"] == pytest.approx(prob.b[i] * values.b_scale, rel=1e-12)
        assert ic[f"q{i}"] == pytest.approx(-ic[f"o{i}"] + 2 * vos, rel=1e-3)
    assert re.search(r"^\.tran .* uic$", text, re.M)


def test_netlist_gbw_without_slew_or_rails_is_linear():
    gbw = 2e7
    prob, spec, text = _netlist(dict(gbw_hz=gbw))
    lines = text.splitlines()
    for i in range(prob.d):
        for kind, inn, out, pole in (("int", f"s{i}", f"o{i}", f"p{i}"), ("inv", f"m{i}", f"n{i}", f"q{i}")):
            g = [ln.split() for ln in lines if ln.startswith(f"G{kind}{i}g ")]
            assert len(g) == 1 and g[0][1:5] == ["0", pole, "0", inn]
            assert float(g[0][5]) / POLE_CAP_F == pytest.approx(2 * np.pi * gbw, rel=1e-12)
            assert f"C{kind}{i}p {pole} 0 {POLE_CAP_F!r}" in lines   # exact: a constant printed by repr
            assert f"E{kind}{i}o {out} 0 {pole} 0 1" in lines
            assert not any(ln.startswith((f"R{kind}{i}p ", f"B{kind}{i}")) for ln in lines)   # ideal A0
    ic = _ic(text)
    assert all(f"p{i}" in ic and f"q{i}" in ic for i in range(prob.d))
    assert not any(ln.startswith("Vos ") for ln in lines)              # no offset: + inputs grounded


def test_netlist_rails_without_gbw_is_a_static_clipped_source():
    vsat = 2.0
    prob, spec, text = _netlist(dict(v_sat_v=vsat))
    lines = text.splitlines()
    for i in range(prob.d):
        b = [ln for ln in lines if ln.startswith(f"Bint{i} ")]
        assert len(b) == 1
        pat = rf"Bint{i} o{i} 0 V = min\(max\({NUM}\*\(v\(0\)-v\(s{i}\)\), {NUM}\), {NUM}\)"
        assert re.fullmatch(pat, b[0])
        assert b[0].endswith(f"{-vsat!r}), {vsat!r})")   # exact: the input literal printed by repr
        assert not any(ln.startswith((f"Cint{i}p", f"Eint{i} ")) for ln in lines)
    ic = _ic(text)
    assert not any(k.startswith(("p", "q")) for k in ic)              # no pole states without GBW
