"""HardwareSpec: JSON round trip, template, validation messages, digest (docs/conventions.md#spec, docs/conventions.md#knobs, docs/conventions.md#errors).

No ngspice needed. CLI checks call ``thermotwin.cli.main([...])`` in-process and read stderr
through ``capsys``: every bad spec must give a non-zero exit and exactly one line naming the field,
never a traceback.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

import thermotwin as tt
from thermotwin.circuit.spec import HardwareSpec, OpAmpSpec
from thermotwin.cli import main

#: Every field issue 4 names; dotted names live in the nested ``opamp`` object.
ISSUE4_FIELDS = [
    "r0_ohm", "c_farad", "kappa0_v2", "r_tolerance", "c_tolerance", "resistor_bits", "r_min_ohm",
    "r_max_ohm", "dac_bits", "adc_bits", "v_range_v", "adc_rate_hz", "opamp.gain", "opamp.gbw_hz",
    "opamp.offset_v", "opamp.v_sat_v", "opamp.slew_v_per_s", "board_seed",
]

#: A spec with every field away from its default (all valid together).
ALL_FIELDS = {
    "r0_ohm": 2200.0, "c_farad": 4.7e-10, "kappa0_v2": 3e-6, "r_tolerance": 0.02, "c_tolerance": 0.05,
    "resistor_bits": 9, "r_min_ohm": 150.0, "r_max_ohm": 2.2e5, "dac_bits": 14, "adc_bits": 11,
    "v_range_v": 5.0, "adc_rate_hz": 2.5e6, "board_seed": 17,
    "opamp": {"gain": 2e5, "gbw_hz": 3e7, "offset_v": -2.5e-4, "v_sat_v": 12.0, "slew_v_per_s": 5e6},
}


def _nested(dotted: str, value) -> dict:
    """{'opamp.gain': v} -> {'opamp': {'gain': v}}; plain names unchanged."""
    if dotted.startswith("opamp."):
        return {"opamp": {dotted.split(".", 1)[1]: value}}
    return {dotted: value}


def _get(d: dict, dotted: str):
    if dotted.startswith("opamp."):
        return d["opamp"][dotted.split(".", 1)[1]]
    return d[dotted]


def _one_line_error(capsys) -> str:
    """The CLI's stderr: exactly one non-empty line, no traceback."""
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one stderr line, got:\n{err}"
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------------------------------------
# round trip, replace, template
# ---------------------------------------------------------------------------------------------
def test_json_round_trip_keeps_every_field():
    spec = HardwareSpec.from_dict(ALL_FIELDS)
    # exact: stored input literals copied through, JSON floats by repr, no arithmetic (here and below)
    assert spec.to_dict() == ALL_FIELDS                      # nothing lost, nothing added
    back = HardwareSpec.from_json(spec.to_json())
    assert back == spec
    assert back.digest() == spec.digest()
    # the JSON text itself is plain JSON with the nested op-amp object
    assert json.loads(spec.to_json()) == ALL_FIELDS


def test_ideal_round_trip_keeps_nulls():
    spec = HardwareSpec.ideal()
    d = json.loads(spec.to_json())
    assert d["resistor_bits"] is None and d["opamp"]["gain"] is None and d["opamp"]["offset_v"] == 0
    assert HardwareSpec.from_json(spec.to_json()) == spec   # exact: JSON repr round trip of literals


def test_replace_with_dotted_and_dict_opamp_keys():
    base = HardwareSpec.from_dict(ALL_FIELDS)
    a = base.replace(**{"opamp.gain": 1e4})
    # exact: replace() copies the given and the untouched literals, no arithmetic (here and below)
    assert a.opamp.gain == 1e4
    # every other field untouched, the original unchanged (frozen)
    da, db = a.to_dict(), base.to_dict()
    db["opamp"]["gain"] = 1e4
    assert da == db
    assert base.opamp.gain == ALL_FIELDS["opamp"]["gain"]
    b = base.replace(opamp={"gbw_hz": 1e6}, **{"opamp.offset_v": 1e-3}, r0_ohm=500.0)
    assert (b.opamp.gbw_hz, b.opamp.offset_v, b.r0_ohm) == (1e6, 1e-3, 500.0)
    assert b.opamp.gain == base.opamp.gain
    # replace validates like the constructor
    with pytest.raises(ValueError, match="opamp.gain"):
        base.replace(**{"opamp.gain": -3.0})


def test_spec_template_prints_every_issue4_field(capsys):
    assert main(["spec", "--template"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    docs = data["$comment"]
    for name in ISSUE4_FIELDS:
        _get(data, name)                                   # KeyError if absent
        assert name in docs and docs[name].strip(), f"{name} is not documented in the template"
    # the template is the default spec, and it loads back (the $comment is ignored)
    assert HardwareSpec.from_json(out) == HardwareSpec()   # exact: default literals, JSON repr round trip


def test_spec_check_normalises_a_valid_file(tmp_path, capsys):
    path = tmp_path / "good.json"
    path.write_text(json.dumps(ALL_FIELDS))
    assert main(["spec", "--check", str(path)]) == 0
    # exact: input literals through JSON (repr round trip), no arithmetic
    assert HardwareSpec.from_json(capsys.readouterr().out) == HardwareSpec.from_dict(ALL_FIELDS)


# ---------------------------------------------------------------------------------------------
# unknown keys
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, name", [
    ({"r0_ohm": 1e3, "r_tolerence": 0.01}, "r_tolerence"),
    ({"opamp": {"gian": 1e4}}, "opamp.gian"),
    ({"opamp": {"gain": 1e4, "slew": 1e6}}, "opamp.slew"),
])
def test_unknown_key_is_keyerror_naming_it(data, name):
    with pytest.raises(KeyError, match=name.replace(".", r"\.")):
        HardwareSpec.from_dict(data)
    with pytest.raises(KeyError, match=name.replace(".", r"\.")):
        HardwareSpec.from_json(json.dumps(data))


@pytest.mark.parametrize("key", ["r_tolerence", "opamp.gian"])
def test_replace_unknown_key_is_keyerror(key):
    with pytest.raises(KeyError, match=key.replace(".", r"\.")):
        HardwareSpec().replace(**{key: 1.0})


@pytest.mark.parametrize("data, name", [
    ({"kappa0_v2": 1e-4, "bogus_field": 1}, "bogus_field"),
    ({"opamp": {"gain": 1e4, "gian": 1e4}}, "opamp.gian"),
])
@pytest.mark.parametrize("command", [["simulate", "--t-end", "5tau"], ["realise"], ["spec", "--check"]])
def test_cli_unknown_key_exits_nonzero_with_one_line(tmp_path, capsys, data, name, command):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    argv = command + [str(path)] if command[0] == "spec" else command + ["--spec", str(path)]
    rc = main(argv)
    assert rc != 0
    line = _one_line_error(capsys)
    assert name in line


# ---------------------------------------------------------------------------------------------
# bad values
# ---------------------------------------------------------------------------------------------
BAD_VALUES = [
    ("r0_ohm", -1.0), ("r0_ohm", 0.0), ("r0_ohm", math.inf), ("c_farad", math.nan), ("c_farad", -1e-9),
    ("kappa0_v2", -1e-6), ("kappa0_v2", math.inf), ("r_tolerance", -0.01), ("r_tolerance", math.nan),
    ("c_tolerance", math.inf), ("v_range_v", 0.0), ("v_range_v", -5.0), ("adc_rate_hz", -1.0),
    ("adc_rate_hz", math.nan), ("r_min_ohm", -100.0), ("r_max_ohm", math.inf), ("r0_ohm", "1k"),
    ("opamp.gain", -1.0), ("opamp.gain", math.nan), ("opamp.gain", 0.5), ("opamp.gbw_hz", 0.0),
    ("opamp.gbw_hz", math.inf), ("opamp.offset_v", math.inf), ("opamp.offset_v", math.nan),
    ("opamp.v_sat_v", -1.0), ("opamp.slew_v_per_s", math.nan), ("board_seed", -1), ("board_seed", 1.5),
] + [(f, v) for f in ("resistor_bits", "dac_bits", "adc_bits") for v in (0, 33, 2.5, 8.0, True, -4)]


def _with_range(field: str, value) -> dict:
    data = _nested(field, value)
    if field == "resistor_bits":              # bits need a range; only the bits are bad here
        data.update(r_min_ohm=100.0, r_max_ohm=1e5)
    return data


@pytest.mark.parametrize("field, value", BAD_VALUES, ids=lambda v: repr(v))
def test_bad_value_is_valueerror_naming_the_field(field, value):
    data = _with_range(field, value)
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        HardwareSpec.from_dict(data)


@pytest.mark.parametrize("data, names", [
    ({"r_min_ohm": 1e5, "r_max_ohm": 1e5}, ["r_min_ohm", "r_max_ohm"]),
    ({"r_min_ohm": 2e5, "r_max_ohm": 1e5}, ["r_min_ohm", "r_max_ohm"]),
    ({"resistor_bits": 8}, ["resistor_bits"]),
    ({"resistor_bits": 8, "r_min_ohm": 100.0}, ["resistor_bits"]),
    ({"resistor_bits": 8, "r_max_ohm": 1e5}, ["resistor_bits"]),
])
def test_inconsistent_range_is_valueerror_naming_the_fields(data, names):
    with pytest.raises(ValueError) as info:
        HardwareSpec.from_dict(data)
    for n in names:
        assert n in str(info.value)


@pytest.mark.parametrize("text, name", [
    ('{"r0_ohm": -1}', "r0_ohm"),
    ('{"c_farad": NaN}', "c_farad"),                       # Python's json reads NaN/Infinity
    ('{"kappa0_v2": Infinity}', "kappa0_v2"),
    ('{"resistor_bits": 33, "r_min_ohm": 100, "r_max_ohm": 1e5}', "resistor_bits"),
    ('{"dac_bits": 0}', "dac_bits"),
    ('{"adc_bits": 7.5}', "adc_bits"),
    ('{"r_min_ohm": 1e5, "r_max_ohm": 100}', "r_min_ohm"),
    ('{"resistor_bits": 8}', "resistor_bits"),
    ('{"opamp": {"gbw_hz": -1}}', "opamp.gbw_hz"),
    ('{"opamp": {"v_sat_v": NaN}}', "opamp.v_sat_v"),
    ('{"opamp": 3}', "opamp"),
    ('{"r0_ohm": 1000,}', "JSON"),
])
@pytest.mark.parametrize("command", [["simulate", "--t-end", "5tau"], ["spec", "--check"]])
def test_cli_bad_value_exits_nonzero_with_one_line(tmp_path, capsys, text, name, command):
    path = tmp_path / "bad.json"
    path.write_text(text)
    argv = command + [str(path)] if command[0] == "spec" else command + ["--spec", str(path)]
    assert main(argv) != 0
    line = _one_line_error(capsys)
    assert name in line


def test_slew_without_gbw_is_refused_when_simulated(tmp_path, capsys):
    path = tmp_path / "slew.json"
    path.write_text('{"opamp": {"slew_v_per_s": 1e6}}')
    assert main(["simulate", "--spec", str(path), "--t-end", "5tau"]) != 0
    assert "opamp.slew_v_per_s" in _one_line_error(capsys)


def test_slew_without_gbw_is_refused_by_the_spec_itself(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"opamp\.slew_v_per_s"):
        HardwareSpec(opamp=OpAmpSpec(slew_v_per_s=1e6))


@pytest.mark.parametrize("command", [["spec", "--check"], ["realise", "--spec"]])
def test_cli_slew_without_gbw_is_refused_by_every_command(tmp_path, capsys, command):
    path = tmp_path / "slew.json"
    path.write_text('{"opamp": {"slew_v_per_s": 1e6}}')
    assert main(command + [str(path)]) != 0


# ---------------------------------------------------------------------------------------------
# ideal, non-ideal fields, digest
# ---------------------------------------------------------------------------------------------
#: One non-ideal setting per knob (dotted names), each valid on its own.
KNOBS = {
    "r_tolerance": 0.01, "c_tolerance": 0.01, "dac_bits": 12, "adc_bits": 12, "adc_rate_hz": 1e6,
    "r_min_ohm": 100.0, "r_max_ohm": 1e5, "opamp.gain": 1e4, "opamp.gbw_hz": 2e7, "opamp.offset_v": 1e-3,
    "opamp.v_sat_v": 10.0,
}


def test_ideal_is_ideal_and_every_knob_breaks_it():
    ideal = HardwareSpec.ideal()
    assert ideal.is_ideal and ideal.opamp.is_ideal and ideal.nonideal_fields() == []
    # scale-setting fields and the board seed do not make a board non-ideal
    assert HardwareSpec.ideal(r0_ohm=500.0, c_farad=2e-9, kappa0_v2=0.0, v_range_v=1.0, board_seed=3).is_ideal
    for name, value in KNOBS.items():
        s = ideal.replace(**{name: value})
        assert not s.is_ideal, name
        assert s.nonideal_fields() == [name]
    s = ideal.replace(resistor_bits=8, r_min_ohm=100.0, r_max_ohm=1e5)
    assert sorted(s.nonideal_fields()) == ["r_max_ohm", "r_min_ohm", "resistor_bits"]
    s = ideal.replace(opamp={"gbw_hz": 2e7, "slew_v_per_s": 1e6})
    assert not s.opamp.is_ideal and sorted(s.nonideal_fields()) == ["opamp.gbw_hz", "opamp.slew_v_per_s"]


def test_digest_is_stable_and_sees_every_field():
    base = HardwareSpec.from_dict(ALL_FIELDS)
    d0 = base.digest()
    assert len(d0) == 16 and int(d0, 16) >= 0
    assert HardwareSpec.from_json(base.to_json()).digest() == d0
    # key order in the input does not matter
    shuffled = dict(reversed(list(ALL_FIELDS.items())))
    shuffled["opamp"] = dict(reversed(list(ALL_FIELDS["opamp"].items())))
    assert HardwareSpec.from_dict(shuffled).digest() == d0
    # changing any single field changes the digest, and all the changed digests differ
    changes = {
        "r0_ohm": 2201.0, "c_farad": 4.8e-10, "kappa0_v2": 3.1e-6, "r_tolerance": 0.021, "c_tolerance": 0.051,
        "resistor_bits": 10, "r_min_ohm": 151.0, "r_max_ohm": 2.3e5, "dac_bits": 13, "adc_bits": 12,
        "v_range_v": 5.5, "adc_rate_hz": 2.6e6, "board_seed": 18, "opamp.gain": 2.1e5,
        "opamp.gbw_hz": 3.1e7, "opamp.offset_v": -2.4e-4, "opamp.v_sat_v": 12.5, "opamp.slew_v_per_s": 5.1e6,
    }
    assert sorted(changes) == sorted(ISSUE4_FIELDS)
    digests = {name: base.replace(**{name: v}).digest() for name, v in changes.items()}
    assert d0 not in digests.values()
    assert len(set(digests.values())) == len(digests)


def test_digest_does_not_depend_on_the_process():
    """Same digest in a fresh interpreter with a different hash seed (it goes into netlist headers)."""
    code = ("import json, sys; from thermotwin.circuit.spec import HardwareSpec; "
            "print(HardwareSpec.from_dict(json.loads(sys.argv[1])).digest())")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(ALL_FIELDS)], capture_output=True,
                         text=True, env=env, check=True, timeout=120).stdout.strip()
    assert out == HardwareSpec.from_dict(ALL_FIELDS).digest()
