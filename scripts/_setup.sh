# Sourced by scripts/demo, scripts/test and scripts/bench: make .venv and install the project
# into it, with the extras the caller names in SETUP_EXTRAS (set it before sourcing; empty for
# none). It never reads the caller's arguments: those are the user's options.
# Reinstalls only when pyproject.toml changed since the last successful install; a failed
# install leaves no stamp, so the next run tries again.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${SETUP_EXTRAS?set SETUP_EXTRAS before sourcing _setup.sh (empty for no extras)}"
PYTHON=${PYTHON:-python3}
if [ ! -x "$ROOT/.venv/bin/python" ]; then
    echo "setting up .venv (first run only)..." >&2
    "$PYTHON" -m venv "$ROOT/.venv"
fi

_setup_hash=$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)

# Whether a stamp of the current pyproject.toml covers every extra in $1 (an install with
# more extras covers one with fewer: `test` covers the plain install).
_setup_done() {
    local stamp have extra
    for stamp in "$ROOT"/.venv/.installed*; do
        [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$_setup_hash" ] || continue
        have=${stamp##*/.installed}
        have=",${have#-},"
        local covered=1
        IFS=, read -ra _wanted <<< "$1"
        for extra in "${_wanted[@]}"; do
            [[ -z $extra || $have == *",$extra,"* ]] || covered=0
        done
        [ "$covered" = 1 ] && return 0
    done
    return 1
}

if ! _setup_done "$SETUP_EXTRAS"; then
    _setup_stamp="$ROOT/.venv/.installed${SETUP_EXTRAS:+-$SETUP_EXTRAS}"
    rm -f "$_setup_stamp"
    echo "installing the project into .venv${SETUP_EXTRAS:+ (with $SETUP_EXTRAS)}..." >&2
    "$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    (cd "$ROOT" && .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        -e ".${SETUP_EXTRAS:+[$SETUP_EXTRAS]}") >&2
    echo "$_setup_hash" > "$_setup_stamp"
fi
