#!/usr/bin/env bash
# Install the SDK into a virtual environment at .venv, with the extras named (default: lab).
#
#   bash scripts/install.sh              # .venv with the SDK and the lab extra (the demo)
#   bash scripts/install.sh lab,plots    # also matplotlib and rich (plots, live status line)
#
# It runs `python3 -m venv .venv && .venv/bin/pip install -e '.[EXTRAS]'`. Debian and Ubuntu
# ship venv's pip bootstrap (ensurepip) in a separate package, and refuse a system-wide pip
# install (PEP 668); when ensurepip is missing this script installs python3-venv with apt-get
# first (through sudo when not root) and says so. Elsewhere it stops with what to install.
# Idempotent: an existing working .venv is reused. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS="${1:-lab}"
PYTHON="${PYTHON:-python3}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "install: $PYTHON not found; install Python 3.11 or newer first" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "install: $("$PYTHON" --version 2>&1) is too old; the SDK needs Python 3.11 or newer" >&2
    exit 1
fi

if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install: $PYTHON cannot make virtual environments (no ensurepip);" \
            "install your system's venv package and run this again" >&2
        exit 1
    fi
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    VERSIONED="python3.$("$PYTHON" -c 'import sys; print(sys.version_info[1])')-venv"
    echo "install: $PYTHON lacks ensurepip; installing python3-venv ($VERSIONED) with apt-get" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "$VERSIONED" >/dev/null 2>&1 ||
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
            python3-venv >/dev/null
fi

if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    # Missing, or left half-made by a venv attempt without ensurepip: (re)create it.
    "$PYTHON" -m venv --clear .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[${EXTRAS}]"
echo "install: ready: .venv with streamsdk[${EXTRAS}] (run .venv/bin/python -m player --help)" >&2
