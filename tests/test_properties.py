"""Property-based tests (issue 16): every reader and parser, fed random bytes or random valid-but-extreme
values, returns a result or raises the project's own error (:class:`ThermotwinError`) — never a bare
numpy/scipy/parser exception, a traceback in the CLI, a hang or a NaN result.

Budget: max_examples 60 per property, no deadline (the first call compiles numba kernels), no example
database (nothing written outside tmp dirs).
"""

from __future__ import annotations

import itertools
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from thermotwin.errors import ThermotwinError  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

#: Finite floats over the whole double range, subnormals and signed zeros included.
extreme = st.floats(allow_nan=False, allow_infinity=False, width=64)
anything_float = st.floats(width=64)     # NaN and ±Inf too


_DIR: list[Path] = []
_COUNT = itertools.count()


@pytest.fixture(autouse=True, scope="module")
def _scratch():
    """One scratch directory for the module's generated files, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="tt-prop-") as d:
        _DIR[:] = [Path(d)]
        yield
    _DIR.clear()


def _file(data: bytes | str, suffix: str) -> Path:
    p = _DIR[0] / f"f{next(_COUNT)}{suffix}"
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", errors="surrogatepass"))
    return p


def _only_ours(fn, *args, **kw):
    """fn(*args) returns, or raises a ThermotwinError; anything else fails the property."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # a RuntimeWarning (overflow…) is a failure too
        try:
            return fn(*args, **kw)
        except ThermotwinError:
            return None


# -- matrices and vectors ------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".mtx", ".npy", ".csv", ".txt"])
@SETTINGS
@given(data=st.binary(max_size=400))
def test_matrix_readers_on_random_bytes(suffix, data):
    from thermotwin.io import read_matrix, read_vector

    p = _file(data, suffix)
    for reader in (read_matrix, read_vector):
        out = _only_ours(reader, p)
        if out is not None:
            assert isinstance(out, np.ndarray) and out.dtype == float


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


@pytest.mark.parametrize("suffix", [".mtx", ".npy", ".csv"])
@SETTINGS
@given(d=st.integers(1, 5), data=st.data())
def test_problems_from_extreme_matrices(suffix, d, data):
    """Any finite (or not) entries, as each format stores them: a Problem with finite x*, or our error."""
    from thermotwin.problem import load_problem

    A = np.array(data.draw(st.lists(anything_float, min_size=d * d, max_size=d * d))).reshape(d, d)
    b = np.array(data.draw(st.lists(extreme, min_size=d, max_size=d)))
    if suffix == ".npy":
        pa, pb = _file(_npy_bytes(A), ".npy"), _file(_npy_bytes(b), ".npy")
    elif suffix == ".csv":
        pa = _file("\n".join(",".join(repr(float(v)) for v in row) for row in A) + "\n", ".csv")
        pb = _file(",".join(repr(float(v)) for v in b) + "\n", ".csv")
    else:
        import scipy.io

        pa, pb = _file(b"", ".mtx"), _file(b"", ".mtx")
        scipy.io.mmwrite(str(pa), A)
        scipy.io.mmwrite(str(pb), b.reshape(-1, 1))
    prob = _only_ours(load_problem, pa, pb)
    if prob is not None:
        x = _only_ours(lambda: prob.x_exact)
        assert x is None or np.all(np.isfinite(x))


# -- hardware spec ---------------------------------------------------------------------------------

@SETTINGS
@given(data=st.binary(max_size=300))
def test_spec_reader_on_random_bytes(data):
    from thermotwin.circuit.spec import HardwareSpec

    _only_ours(HardwareSpec.load, _file(data, ".json"))


json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), extreme, st.text(max_size=5))


@SETTINGS
@given(data=st.data())
def test_spec_reader_on_extreme_values(data):
    """Every field set to a random scalar (booleans, huge, tiny, strings, null): a valid spec or our error;
    a spec that loads simulates to a finite error or our error."""
    from thermotwin.circuit.spec import HardwareSpec

    d = HardwareSpec().to_dict()
    keys = [k for k in d if k != "opamp"] + [f"opamp.{k}" for k in d["opamp"]]
    for k in data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True)):
        v = data.draw(json_scalar)
        if k.startswith("opamp."):
            d["opamp"][k[6:]] = v
        else:
            d[k] = v
    spec = _only_ours(HardwareSpec.load, _file(json.dumps(d), ".json"))
    if spec is not None:
        _finite_run(spec)


def _finite_run(spec):
    import thermotwin as tt

    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    res = _only_ours(tt.simulate, tt.Problem(A, np.ones(2)), spec, tt.SimConfig(t_end="10tau", seed=1))
    if res is not None:
        from thermotwin.solver.result import check_finite_summary

        _only_ours(check_finite_summary, res.summary())


# -- calibration files ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def calib_dict():
    import thermotwin as tt
    from thermotwin.calibration.fit import fit_ou
    from thermotwin.calibration.traces import read_trace

    A = np.array([[1.5, 0.4], [-0.2, 1.0]])
    res = tt.simulate(tt.Problem(A, np.ones(2)), tt.HardwareSpec(), tt.SimConfig(t_end="400tau", dt_out="0.5tau",
                                                                               seed=2))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cal = fit_ou(read_trace(_file(res.trace_csv(), ".csv")), tau_s=1e-6)
    return json.loads(cal.to_json())


@SETTINGS
@given(data=st.binary(max_size=300))
def test_calibration_reader_on_random_bytes(data):
    from thermotwin.calibration.fit import Calibration

    _only_ours(Calibration.load, _file(data, ".json"))


@SETTINGS
@given(data=st.data())
def test_calibration_reader_and_predict_on_extreme_values(calib_dict, data):
    """Random scalars in the numbers predict relies on: a prediction with finite numbers, or our error."""
    import copy

    from thermotwin.calibration.fit import Calibration
    from thermotwin.calibration.predict import predict_from_calibration, time_to_tolerance

    d = copy.deepcopy(calib_dict)
    paths = ["tau_s", "dt_s", "lambda_min_per_s", "kappa0_v2", "d", ("drift_per_s", 0, 0), ("drift_per_s", 1, 0),
             ("diffusion_v2_per_s", 0, 0), ("diffusion_v2_per_s", 0, 1), ("fixed_point_v", 0)]
    for path in data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True)):
        v = data.draw(json_scalar)
        if isinstance(path, str):
            d[path] = v
        else:
            node = d[path[0]]
            for i in path[1:-1]:
                node = node[i]
            node[path[-1]] = v
    cal = _only_ours(Calibration.load, _file(json.dumps(d), ".json"))
    if cal is None:
        return
    t_end = data.draw(st.floats(1e-12, 1e6))
    out = _only_ours(predict_from_calibration, cal, t_end, n_points=50)
    if out is not None:
        pred, _ = out
        assert np.all(np.isfinite(pred.running)) and math.isfinite(pred.floor)
        t = _only_ours(time_to_tolerance, cal, data.draw(extreme), data.draw(extreme), n_grid=5, n_mc=50)
        assert t is None or t >= 0


# -- traces -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".csv", ".raw"])
@SETTINGS
@given(data=st.binary(max_size=500))
def test_trace_readers_on_random_bytes(suffix, data):
    from thermotwin.calibration.traces import read_trace

    _only_ours(read_trace, _file(data, suffix))


RAW_HEAD = ("Title: t\nDate: x\nPlotname: Transient Analysis\nFlags: {flags}\nNo. Variables: {nvar}\n"
            "No. Points: {npts}\nVariables:\n{vars}{kind}\n")


@SETTINGS
@given(nvar=st.integers(0, 4), npts=st.one_of(st.integers(-3, 40), st.text(max_size=3)),
       flags=st.sampled_from(["real", "complex", "", "real forward"]), binary=st.booleans(),
       values=st.lists(anything_float, max_size=120), nodes=st.one_of(st.none(), st.text(max_size=6)))
def test_raw_reader_on_structured_headers(nvar, npts, flags, binary, values, nodes):
    from thermotwin.calibration.traces import read_trace

    names = ["time"] + [f"v(o{i})" for i in range(max(nvar - 1, 0))]
    var_lines = "".join(f"\t{i}\t{n}\tvoltage\n" for i, n in enumerate(names[:nvar]))
    head = RAW_HEAD.format(flags=flags, nvar=nvar, npts=npts, vars=var_lines, kind="Binary:" if binary else "Values:")
    if binary:
        body = np.asarray(values, dtype="<f8").tobytes()
    else:
        body = "".join(f" {k}\t{v!r}\n" for k, v in enumerate(values)).encode()
    tr = _only_ours(read_trace, _file(head.encode() + body, ".raw"), nodes)
    if tr is not None:
        assert np.all(np.isfinite(tr.values)) and np.all(np.diff(tr.times) > 0)


@SETTINGS
@given(n=st.integers(3, 60), dt=st.one_of(extreme, st.text(max_size=6)), rows=st.data())
def test_calibrate_fit_on_extreme_traces(n, dt, rows):
    """A CSV with random (finite) times and values, fitted at a random --dt: a calibration whose
    numbers are finite JSON, or our error."""
    import warnings

    from thermotwin.calibration.fit import fit_ou
    from thermotwin.calibration.traces import read_trace
    from thermotwin.units import parse_time

    t = np.cumsum(np.abs(rows.draw(st.lists(st.floats(1e-300, 1e300), min_size=n, max_size=n))))
    v = np.array(rows.draw(st.lists(extreme, min_size=n, max_size=n)))
    p = _file("time,v0\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(t, v)), ".csv")
    tr = _only_ours(read_trace, p)
    step = _only_ours(parse_time, dt, 1e-6) if isinstance(dt, str) else dt
    if tr is None or step is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # fit_ou's own diagnostics (not-converged, short trace)
        try:
            cal = fit_ou(tr, dt=step if step else None, n_boot=20)
        except ThermotwinError:
            return
    json.loads(cal.to_json())            # always valid JSON


# -- sweep files ------------------------------------------------------------------------------------

@SETTINGS
@given(data=st.binary(max_size=300))
def test_sweep_reader_on_random_bytes(data):
    from thermotwin.sweep.plan import load_sweep

    _only_ours(load_sweep, _file(data, ".toml"))


toml_value = st.one_of(st.booleans(), st.integers(-10**18, 10**18), extreme.filter(math.isfinite),
                       st.text(alphabet="abcdefgtau0123456789.e-", max_size=6))


@SETTINGS
@given(data=st.data())
def test_sweep_reader_on_extreme_values(data):
    from thermotwin.sweep.plan import load_sweep

    def fmt(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        return repr(v)

    top = {"matrix": data.draw(st.sampled_from(['"spd"', '"builtin"', '"wishart"', '"nope"'])),
           "d": fmt(data.draw(toml_value)), "t_end": fmt(data.draw(toml_value)),
           "boards": fmt(data.draw(toml_value)), "seed": fmt(data.draw(toml_value))}
    grid_key = data.draw(st.sampled_from(["kappa0_v2", "r_tolerance", "opamp.gain", "cond", "seed", "d", "nope"]))
    grid_vals = ", ".join(fmt(v) for v in data.draw(st.lists(toml_value, min_size=1, max_size=3)))
    text = "".join(f"{k} = {v}\n" for k, v in top.items()) + f'[grid]\n"{grid_key}" = [{grid_vals}]\n'
    _only_ours(load_sweep, _file(text, ".toml"))


# -- factored problems ------------------------------------------------------------------------------

@SETTINGS
@given(data=st.binary(max_size=400))
def test_factored_reader_on_random_bytes(data):
    from thermotwin.solver.factored import load_factored

    _only_ours(load_factored, _file(data, ".npz"))


# -- times and quantities ---------------------------------------------------------------------------

@SETTINGS
@given(text=st.one_of(st.text(max_size=12), st.from_regex(r"[+-]?\d{0,4}(\.\d{0,3})?([eE][+-]?\d{1,4})?"
                                                          r"\s*(meg|[fpnumkgµ])?(s|tau|F|ohm)?", fullmatch=True)),
       tau=st.one_of(st.none(), st.floats(1e-300, 1e300)))
def test_time_and_quantity_parsers(text, tau):
    from thermotwin.units import parse_quantity, parse_time

    t = _only_ours(parse_time, text, tau)
    assert t is None or (math.isfinite(t) and t >= 0)
    for unit in ("", "s", "F", "ohm", "V2"):
        q = _only_ours(parse_quantity, text, unit)
        assert q is None or math.isfinite(q)


@SETTINGS
@given(value=st.one_of(json_scalar, anything_float))
def test_cli_number_checks(value):
    from thermotwin.units import check_number

    for kw in ({"lo": 1, "integer": True}, {"lo": 0, "lo_open": True}, {"lo": 0, "hi": 1, "lo_open": True,
                                                                         "hi_open": True}):
        out = _only_ours(check_number, value, "--x", **kw)
        assert out is None or (not isinstance(out, bool) and math.isfinite(out))


# -- noise files of same-noise netlists ------------------------------------------------------------
_NOISE_NET = (".model noise_src0 filesource (file=\"n0.txt\" amploffset=[0 0] amplscale=[1 1] timeoffset=0 "
              "timescale=1e-07 timerelative=false amplstep=true)\n.tran 1e-07 5e-07 0 1e-07 uic\n")


@SETTINGS
@given(data=st.one_of(st.binary(max_size=400),
                      st.lists(st.lists(st.one_of(extreme, anything_float, st.integers(-3, 9)), max_size=4),
                               max_size=8).map(lambda rows: "\n".join(" ".join(map(str, r)) for r in rows))))
def test_noise_file_check_on_random_and_extreme_content(data):
    """A noise file of random bytes or random rows of extreme numbers: accepted, or one project line."""
    from thermotwin.solver.ngspice import check_noise_files

    folder = _DIR[0] / f"noise{next(_COUNT)}"
    folder.mkdir()
    (folder / "n0.txt").write_bytes(data if isinstance(data, bytes) else data.encode())
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            check_noise_files(_NOISE_NET, folder)
        except ThermotwinError as exc:
            assert "\n" not in str(exc) and "n0.txt" in str(exc)     # one line naming the file
