import numpy as np
import pytest

import thermotwin as tt


def test_builtin_round_trip_ideal():
    p = tt.builtin_example()
    spec = tt.HardwareSpec.ideal()
    real = tt.realised_matrix(tt.design(p, spec), spec)
    np.testing.assert_allclose(real.A_eff, p.A, rtol=0, atol=1e-13)
    np.testing.assert_allclose(real.b_eff, p.b, rtol=0, atol=1e-13)


@pytest.mark.ngspice
def test_twin_and_ngspice_same_path_short():
    p = tt.builtin_example()
    cfg = tt.SimConfig(t_end="5tau", seed=4)
    a = tt.simulate(p, config=cfg, backend="twin")
    b = tt.simulate(p, config=cfg, backend="ngspice")
    assert np.abs(a.states - b.states).max() <= 1e-3 * np.ptp(a.states)
