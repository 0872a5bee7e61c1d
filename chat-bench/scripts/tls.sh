#!/usr/bin/env bash
# TLS against plaintext, side by side in one run: each scenario against a fresh release
# server with --plaintext, then one speaking TLS (the default; the generator's clients
# trusting its fingerprint), the two taking turns within each round. Prints one JSON line
# per run, prefixed by scenario and "plaintext"/"tls"; summary.py turns them into a table.
#
#   chat-bench/scripts/tls.sh [ROUNDS] [SIZE_MIB] | tee runs.txt
#
# ROUNDS (default 1) repeats every pair; SIZE_MIB (default 1024) is the file of the
# transfer scenario, whose server keeps its data in a folder under $SCRATCH (default
# target/tmp, on the workspace's disk rather than a tmpfs). Every run is bounded by
# chat-bench's own limits, and only ever speaks to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-1}
size_mib=${2:-1024}
source chat-bench/scripts/common.sh
scratch=${SCRATCH:-$target/tmp}
mkdir -p "$scratch"

run() {
    local name=$1; shift
    for mode in plaintext tls; do
        if [[ $mode == plaintext ]]; then server_args=(--plaintext); else server_args=(); fi
        start_server
        printf '%s %s ' "$name" "$mode"
        "$bin/chat-bench" "${reach[@]}" "$@" --addr "$addr" --server-pid "$pid" --json
        stop_server
    done
}

# The transfer's server stores the file: its data directory on the scratch disk, with a
# quota to hold it.
transfer() {
    local name=$1; shift
    for mode in plaintext tls; do
        data_dir=$(mktemp -d -p "$scratch" tls-transfer.XXXXXX)
        server_args=(--quota 100GiB)
        if [[ $mode == plaintext ]]; then server_args+=(--plaintext); fi
        start_server
        printf '%s %s ' "$name" "$mode"
        "$bin/chat-bench" "${reach[@]}" transfer --size-mib "$size_mib" --scratch-dir "$data_dir" \
            --timeout 300 --addr "$addr" --server-pid "$pid" --json
        stop_server
        unset data_dir
    done
}

for round in $(seq "$rounds"); do
    echo "# round $round"
    run A fanout --clients 100 --senders 10 --messages 1000
    run B fanout --clients 1000 --senders 1 --messages 1000
    run C1000 idle --connections 1000 --hold 5
    transfer T
done
