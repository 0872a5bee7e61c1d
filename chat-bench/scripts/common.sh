# Shared by the benchmark scripts: builds the release binaries and starts and stops our
# server on a free loopback port. Source it from the workspace root.

cargo build --release -q -p chat-server -p chat-bench
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target/release
ulimit -n 65536 2>/dev/null || true

# Whether the build in folder $1 knows --plaintext (its server speaks TLS by default):
# prints the flag, or nothing for a build from before TLS, which only spoke plaintext.
plaintext_flag() {
    if "$1/chat-server" --help 2>/dev/null | grep -q -- '--plaintext'; then echo --plaintext; fi
}

# Starts our server on a free loopback port, with a data directory of its own (removed by
# stop_server); sets $pid and $addr, $fp (its key's fingerprint; empty in plaintext) and
# the array $reach (what chat-bench needs to reach it: --trust FP, else --plaintext, or
# nothing for a build from before TLS). Its data directory is $data_dir if set (still
# removed by stop_server), else a new temporary one. The server speaks TLS, as by default, unless
# $PLAINTEXT is set (or $server_args holds --plaintext). $workers, if set, sets its
# runtime threads; $server_cpu, if set, pins it to that CPU with one worker thread; the
# array $server_args, if set, adds arguments.
start_server() {
    local log w=${workers:-}
    log=$(mktemp)
    data=${data_dir:-$(mktemp -d)}
    local pin=() plain=()
    if [[ -n ${server_cpu:-} ]]; then pin=(taskset -c "$server_cpu"); w=1; fi
    if [[ -n ${PLAINTEXT:-} ]]; then read -r -a plain <<<"$(plaintext_flag "$bin")"; fi
    # Thousands of clients from one address, senders far above a person's rate.
    "${pin[@]}" "$bin/chat-server" --listen 127.0.0.1:0 --log-level warn --msg-rate 0 --max-connections-per-ip 0 ${w:+--workers "$w"} --data-dir "$data" "${plain[@]}" "${server_args[@]}" >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        addr=$(grep -o 'listening on [0-9.:]*' "$log" | awk '{print $3}' || true)
        [[ -n $addr ]] && break
        sleep 0.05
    done
    fp=$(grep -o 'fingerprint [0-9a-f:]*' "$log" | awk '{print $2}' || true)
    rm -f "$log"
    [[ -n $addr ]] || { echo "server did not start" >&2; kill "$pid"; exit 1; }
    if [[ -n $fp ]]; then
        reach=(--trust "$fp")
    else
        read -r -a reach <<<"$(plaintext_flag "$bin")"
    fi
}

stop_server() {
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$data"
}
server_args=()
