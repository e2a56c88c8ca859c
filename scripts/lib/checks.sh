# shellcheck shell=bash
# Shared by the scripts/check-* scripts, which source it: a Python virtualenv per requirements
# file, and a throwaway `watershed up` whose address they talk to.
#
#   python=$(check_venv NAME REQUIREMENTS_FILE)
#   start_up WORK_DIR [extra `up` flags…]   # sets $base and $server_pid; stop_up stops it

target_dir=${CARGO_TARGET_DIR:-$HOME/.cache/watershed-target}
bin=${WATERSHED_BIN:-$target_dir/debug/watershed}
server_pid=
base=

# Installs the requirements into their own virtualenv once per version of the file.
check_venv() {
    local venv=$HOME/.cache/watershed-venv/$1 requirements=$2
    if ! cmp -s "$requirements" "$venv/installed-requirements.txt"; then
        [[ -x $venv/bin/python ]] || python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet -r "$requirements" >&2
        cp "$requirements" "$venv/installed-requirements.txt"
    fi
    echo "$venv/bin/python"
}

start_up() {
    local work=$1
    shift
    RUST_LOG=${RUST_LOG:-warn} "$bin" up --listen 127.0.0.1:0 --data-dir "$work/data" --simulate 0 \
        --web-dir "$work/no-dashboard" "$@" >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 300); do
        base=$(sed -n 's/^watershed: listening on \(http:[^ ]*\)$/\1/p' "$work/server.log" | head -n 1)
        [[ -n $base ]] && return 0
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; return 1; }
        sleep 0.2
    done
    echo "watershed up did not start" >&2
    return 1
}

stop_up() {
    if [[ -n $server_pid ]]; then
        kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    fi
    return 0
}
