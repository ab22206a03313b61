# Sourced by ./lanyard and ./scripts/test: make .venv hold this checkout, installed.
# Usage: bootstrap [dev]. Re-installs only when pyproject.toml changed since last time.
set -euo pipefail

LANYARD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LANYARD_VENV:-$LANYARD_ROOT/.venv}"

bootstrap() {
    local extra="${1:-}"
    local python="${PYTHON:-python3}"
    if ! command -v "$python" >/dev/null 2>&1; then
        echo "lanyard: $python was not found; install Python 3.11 or newer." >&2
        exit 1
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "lanyard: Python 3.11 or newer is needed; $python is $("$python" -V 2>&1)." >&2
        exit 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        echo "lanyard: creating a virtual environment in $VENV (first run only)…" >&2
        "$python" -m venv "$VENV"
    fi
    local want stamp spec
    want="$(cat "$LANYARD_ROOT/pyproject.toml" | "$VENV/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
    stamp="$VENV/.lanyard-installed${extra:+-$extra}"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        spec="$LANYARD_ROOT"
        [ -n "$extra" ] && spec="$LANYARD_ROOT[$extra]"
        echo "lanyard: installing dependencies into $VENV…" >&2
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec" >&2
        echo "$want" > "$stamp"
    fi
}
