# Sourced by scripts/serve and scripts/test: make .venv with the project installed (extras in $1).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SMSC_SIM_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "error: $PY is $("$PY" --version 2>&1); smsc-sim needs Python >= 3.11" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    # Debian's python3 ships venv separately.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      rm -rf "$VENV"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
      "$PY" -m venv "$VENV"
    else
      echo "error: cannot create a virtual environment; install python3-venv" >&2; exit 1
    fi
  fi
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT${1:+[$1]}"
