#!/usr/bin/env bash
# Scenarios A (100 clients, 10 senders) and B (1,000 members, one sender) with the server's
# history on (the default: every room message stored in SQLite) and off (--no-history),
# taking turns in one session so that a noisy moment of the machine falls on both alike.
# Prints one JSON line per run, prefixed by scenario and "on"/"off"; summary.py turns them
# into a table.
#
#   chat-bench/scripts/history.sh [ROUNDS] | tee runs.txt
#   chat-bench/scripts/summary.py runs.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
source chat-bench/scripts/common.sh

run() {
    local name=$1 history=$2; shift 2
    server_args=()
    if [[ $history == off ]]; then server_args=(--no-history); fi
    start_server
    printf '%s %s ' "$name" "$history"
    "$bin/chat-bench" "${reach[@]}" "$@" --addr "$addr" --server-pid "$pid" --json
    stop_server
}

for round in $(seq "$rounds"); do
    echo "# round $round"
    for history in off on; do run A $history fanout --clients 100 --senders 10 --messages 5000; done
    for history in off on; do run B $history fanout --clients 1000 --senders 1 --messages 5000; done
done
