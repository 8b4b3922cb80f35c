# Sourced by the scripts: make sure a virtual environment with Wolaiban installed exists.
# WOLAIBAN_VENV picks its folder (default .venv); it is (re)installed when pyproject.toml changes.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WOLAIBAN_VENV:-$here/.venv}"
extras="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "setting up $VENV …" >&2
  "$python" -m venv "$VENV"
fi
stamp="$VENV/.wolaiban-installed$extras"
want="$(sha256sum "$here/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing Wolaiban$extras into $VENV …" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$here$extras" >&2
  echo "$want" > "$stamp"
fi
