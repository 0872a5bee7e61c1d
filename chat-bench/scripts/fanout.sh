#!/usr/bin/env bash
# Runs the fan-out and idle scenarios of docs/BENCHMARKS.md against a fresh release server
# each, on loopback, and prints one JSON line per run.
#
#   chat-bench/scripts/fanout.sh [ROUNDS] [WORKERS]
#
# ROUNDS (default 2) repeats every scenario; WORKERS (default: all cores) sets the server's
# runtime threads. The server speaks TLS, as by default; PLAINTEXT=1 measures it in
# plaintext, as the tables from before TLS was the default were. Every run is bounded by
# chat-bench's own --timeout.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-2}
workers=${2:-}
source chat-bench/scripts/common.sh

run() {
    local name=$1; shift
    start_server
    printf '%s ' "$name"
    "${bench_pin[@]}" "$bin/chat-bench" "${reach[@]}" "$@" --addr "$addr" --server-pid "$pid" --json
    stop_server
}

# The one-message-in-flight scenarios again with a core each: the server on CPU 0 (one
# worker), the load generator on CPU 1 (one worker), so that neither preempts the other.
pinned() {
    local server_cpu=0
    local bench_pin=(env TOKIO_WORKER_THREADS=1 taskset -c 1)
    run "$@"
}
bench_pin=()

for round in $(seq "$rounds"); do
    echo "# round $round"
    run A fanout --clients 100 --senders 10 --messages 1000
    run B fanout --clients 1000 --senders 1 --messages 1000
    run A1 fanout --clients 100 --senders 10 --messages 200 --window 1
    run B1 fanout --clients 1000 --senders 1 --messages 200 --window 1
    if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
        pinned A1-pinned fanout --clients 100 --senders 10 --messages 200 --window 1
        pinned B1-pinned fanout --clients 1000 --senders 1 --messages 200 --window 1
    fi
    run C1000 idle --connections 1000 --hold 5
    run C5000 idle --connections 5000 --hold 5
    run C2000x1000 idle --connections 2000 --rooms 1000 --hold 5
    run C10000x10 idle --connections 10000 --rooms 10 --hold 5
    run D fanout --clients 1000 --senders 100 --messages 1000 --rooms 100
done
