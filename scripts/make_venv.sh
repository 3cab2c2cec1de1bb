#!/usr/bin/env bash
# Create the project's virtual environment and install ftlab with its dev extras.
# Uses uv when it can (about 4x faster than pip here), else plain pip.
set -euo pipefail
VENV=${1:-.venv}
PYTHON=${PYTHON:-python3}
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip uv || true
if [[ -x "$VENV/bin/uv" ]]; then
  # uv ignores pip's configuration: pass this machine's local wheel folders and caps explicitly
  args=(--python "$VENV/bin/python" --index-strategy unsafe-best-match)
  [[ -d /opt/wheels ]] && args+=(--find-links /opt/wheels)
  for idx in /opt/pypi/simple /opt/pypi-more/simple; do [[ -d $idx ]] && args+=(--extra-index-url "file://$idx"); done
  [[ -f /etc/xdg/pip/constraints.txt ]] && args+=(--constraint /etc/xdg/pip/constraints.txt)
  "$VENV/bin/uv" pip install "${args[@]}" -e ".[dev]" && exit 0
  echo "uv failed; falling back to pip" >&2
fi
"$VENV/bin/python" -m pip install -e ".[dev]"
