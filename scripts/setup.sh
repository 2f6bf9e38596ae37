#!/usr/bin/env bash
# Set up thermotwin on a fresh machine: ngspice from Debian (needs root), then a virtual
# environment with the package and its dependencies. Without root it installs what it can and
# prints the exact system command still needed.
#
# Versions: on CPython 3.11 / Linux x86_64 (what CI tests) every package is installed at the exact
# version and hash of requirements/lock-py311-linux.txt. Elsewhere, or with THERMOTWIN_LATEST=1
# (`make test-latest`), the newest releases pyproject.toml's ranges allow are installed instead.
set -euo pipefail
VENV="${1:-.venv}"
APT_PKGS="ngspice libngspice0 libngspice0-dev"
LOCK="requirements/lock-py311-linux.txt"
EXTRAS="test,dask,timing"

if ! command -v ngspice >/dev/null 2>&1 || ! ldconfig -p 2>/dev/null | grep -q "libngspice.so "; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing $APT_PKGS from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $APT_PKGS >/dev/null
  else
    echo "setup: ngspice is missing and this is not root (or not Debian); see the README's"
    echo "setup: 'Platforms' section, e.g. on Debian/Ubuntu:  sudo apt-get install -y $APT_PKGS"
    echo "setup: continuing without it (the twin works; SPICE backends will say what is missing)"
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip >/dev/null

platform="$("$PY" -c 'import platform, sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}-{sys.platform}-{platform.machine()}")')"
if [ "${THERMOTWIN_LATEST:-0}" = "1" ]; then
  echo "setup: newest releases allowed by pyproject.toml ($platform)"
  "$PY" -m pip install -q --upgrade --upgrade-strategy eager -e ".[$EXTRAS]"
elif [ "$platform" = "3.11-linux-x86_64" ]; then
  echo "setup: exact versions from $LOCK"
  "$PY" -m pip install -q --require-hashes -r "$LOCK"
  "$PY" -m pip install -q --no-deps -e .
else
  echo "setup: $platform is not the locked platform (CPython 3.11, Linux x86_64): installing the newest"
  echo "setup: releases allowed by pyproject.toml (the tested versions are listed in $LOCK)"
  "$PY" -m pip install -q -e ".[$EXTRAS]"
fi
echo "setup: done ($("$PY" -c 'import thermotwin; print("thermotwin", thermotwin.__version__)'))"
