#!/usr/bin/env bash
# The README's first command: install napari-amnesia in a virtual environment and run the main
# job on the built-in synthetic sample (no download, no display). Results: ./amnesia-demo/
# (or --out DIR). Running it again replaces the results folder it wrote, never anything else:
# --overwrite only replaces a folder whose .napari-amnesia.json lists every file in it, so
# `bash scripts/demo.sh --out ~/experiment` refuses an unrelated folder and leaves it intact.
# AMNESIA_VENV=path picks the environment; AMNESIA_NO_INSTALL=1 skips the installation
# (an environment that already has napari-amnesia).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${AMNESIA_VENV:-.venv}"
if [ -z "${AMNESIA_NO_INSTALL:-}" ]; then
  if ! python3 -c "import ensurepip, venv" 2>/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv
  fi
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e ".[all]"
fi
exec "$venv/bin/amnesia" demo --out amnesia-demo --overwrite "$@"
