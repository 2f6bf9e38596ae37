#!/usr/bin/env bash
# Set up thermotwin on a fresh machine: ngspice from Debian (needs root), then a virtual
# environment with the package and its dependencies. Without root it installs what it can and
# prints the exact system command still needed.
set -euo pipefail
VENV="${1:-.venv}"
APT_PKGS="ngspice libngspice0 libngspice0-dev"

if ! command -v ngspice >/dev/null 2>&1 || ! ldconfig -p 2>/dev/null | grep -q "libngspice.so "; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing $APT_PKGS from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $APT_PKGS >/dev/null
  else
    echo "setup: ngspice is missing and this is not root; run:"
    echo "    sudo apt-get install -y $APT_PKGS"
    echo "setup: continuing without it (the twin works; SPICE backends will say what is missing)"
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e ".[test,dask,timing]"
echo "setup: done ($("$VENV/bin/python" -c 'import thermotwin; print("thermotwin", thermotwin.__version__)'))"
