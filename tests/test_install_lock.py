"""The lock (requirements/lock-py311-linux.txt) is the one tested set of versions: it pins every
dependency pyproject.toml declares (core and the extras `make` installs), inside pyproject's ranges,
each with a hash."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock-py311-linux.txt"
EXTRAS = ("test", "dask", "timing")          # what scripts/setup.sh and `make lock` install


def locked() -> dict[str, tuple[Version, int]]:
    """name → (version, number of hashes) from the lock's `name==version \\ --hash=...` entries."""
    out: dict[str, tuple[Version, int]] = {}
    name = None
    for line in LOCK.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s\\;]+)", line)
        if m:
            name = canonicalize_name(m.group(1).split("[")[0])
            out[name] = (Version(m.group(2)), 0)
        elif name and line.strip().startswith("--hash=sha256:"):
            v, n = out[name]
            out[name] = (v, n + 1)
    return out


def declared() -> list[Requirement]:
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in proj["dependencies"]]
    for extra in EXTRAS:
        reqs += [Requirement(r) for r in proj["optional-dependencies"][extra]]
    return reqs


def test_lock_pins_every_declared_dependency_within_its_range():
    lock = locked()
    assert lock, f"{LOCK} holds no pinned package"
    for req in declared():
        name = canonicalize_name(req.name)
        assert name in lock, f"{req.name} is declared in pyproject.toml but not pinned in the lock; run `make lock`"
        version, hashes = lock[name]
        # a local label (torch's "+cpu") is a build of the same release
        assert req.specifier.contains(Version(version.public), prereleases=True), (
            f"lock pins {req.name}=={version}, outside pyproject's {req.specifier}; run `make lock`")
        assert hashes >= 1, f"{req.name} has no hash in the lock"


def test_every_locked_package_has_a_hash():
    for name, (version, hashes) in locked().items():
        assert hashes >= 1, f"{name}=={version} has no hash"


def test_torch_is_its_cpu_build():
    assert locked()[canonicalize_name("torch")][0].local == "cpu"


@pytest.mark.parametrize("pkg", ["numpy", "scipy", "numba", "matplotlib", "pyspice"])
def test_installed_version_is_the_locked_one_in_the_locked_environment(pkg):
    """`make test` runs in .venv, installed from the lock: the versions must be the locked ones.
    (Other environments — `make test-latest`'s .venv-latest, a user's own — are not checked.)"""
    import importlib.metadata
    import sys

    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("not the locked environment (.venv)")
    assert Version(importlib.metadata.version(pkg)) == locked()[canonicalize_name(pkg)][0]
