#!/usr/bin/env bash
# The README's first command: install napari-amnesia in a virtual environment and run the main
# job on the built-in synthetic sample (no download, no display). Results: ./amnesia-demo/
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! python3 -c "import ensurepip, venv" 2>/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv
fi
venv="${AMNESIA_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[all]"
exec "$venv/bin/amnesia" demo --out amnesia-demo --overwrite "$@"
