#!/usr/bin/env bash
# TLS against plaintext, side by side in one run: each scenario against a fresh release
# server without TLS, then with --tls (the generator's clients trusting its fingerprint).
# Prints one JSON line per run.
#
#   chat-bench/scripts/tls.sh [ROUNDS]
#
# ROUNDS (default 1) repeats every pair. Every run is bounded by chat-bench's own limits.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-1}
source chat-bench/scripts/common.sh

# Starts the server with the arguments in $server_args, and sets $fp to its fingerprint
# (empty without TLS).
start_tls_aware() {
    local log w=${workers:-}
    log=$(mktemp)
    data=$(mktemp -d)
    "$bin/chat-server" --listen 127.0.0.1:0 --log-level warn --msg-rate 0 --max-connections-per-ip 0 ${w:+--workers "$w"} --data-dir "$data" "${server_args[@]}" >"$log" 2>&1 &
    pid=$!
    addr=
    for _ in $(seq 100); do
        addr=$(grep -o 'listening on [0-9.:]*' "$log" | awk '{print $3}' || true)
        [[ -n $addr ]] && break
        sleep 0.05
    done
    fp=$(grep -o 'fingerprint [0-9a-f:]*' "$log" | awk '{print $2}' || true)
    rm -f "$log"
    [[ -n $addr ]] || { echo "server did not start" >&2; kill "$pid"; exit 1; }
}

run() {
    local name=$1; shift
    for mode in plaintext tls; do
        if [[ $mode == tls ]]; then server_args=(--tls); else server_args=(); fi
        start_tls_aware
        printf '%s-%s ' "$name" "$mode"
        "$bin/chat-bench" ${fp:+--trust "$fp"} "$@" --addr "$addr" --server-pid "$pid" --json
        stop_server
    done
}

for round in $(seq "$rounds"); do
    echo "# round $round"
    run A fanout --clients 100 --senders 10 --messages 1000
    run B fanout --clients 1000 --senders 1 --messages 1000
    run C1000 idle --connections 1000 --hold 5
done
