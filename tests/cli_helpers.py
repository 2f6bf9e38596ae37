"""Helpers of the command-line tests (one copy for test_cli, test_calibration, test_sweep, test_timing)."""

from __future__ import annotations

from thermotwin import cli


def run(argv, capsys):
    """main(argv) → (exit code, stdout, stderr); an exception escaping main fails the test."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles, ignore_case: bool = False):
    """A non-zero exit with exactly one stderr line, ``thermotwin: error: …``, no traceback, and each
    needle in that line (case-insensitively with ``ignore_case``)."""
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"stderr has {len(lines)} lines:\n{err}"
    assert lines[0].startswith("thermotwin: error: ")
    assert "Traceback" not in err
    line = lines[0].lower() if ignore_case else lines[0]
    for n in needles:
        assert (n.lower() if ignore_case else n) in line, f"{n!r} not in {lines[0]!r}"
