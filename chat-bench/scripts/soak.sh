#!/usr/bin/env bash
# Soak: a fresh release server on loopback with a temporary data directory, bots joining,
# chatting, sending and fetching files and leaving for SECONDS (default 600), then the
# server's open files, threads and memory compared with before. Bounded by SECONDS plus
# a settle time; the server and the data directory are removed afterwards.
#
#   chat-bench/scripts/soak.sh [SECONDS] [BOTS] [EXTRA chat-bench soak FLAGS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-600}
bots=${2:-20}
shift $(( $# > 2 ? 2 : $# ))
cargo build --release -q -p chat-server -p chat-bench
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target/release
data=$(mktemp -d)
log=$(mktemp)
# All bots come from 127.0.0.1: lift the per-address cap for them.
"$bin/chat-server" --listen 127.0.0.1:0 --data-dir "$data" --max-connections-per-ip 0 \
    --log-level warn >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data" "$log"; }
trap cleanup EXIT
addr=
for _ in $(seq 100); do
    addr=$(grep -o 'listening on [0-9.:]*' "$log" | awk '{print $3}' || true)
    [[ -n $addr ]] && break
    sleep 0.05
done
[[ -n $addr ]] || { echo "server did not start" >&2; exit 1; }
# It speaks TLS, as by default: the bots trust the key it printed.
fp=$(grep -o 'fingerprint [0-9a-f:]*' "$log" | awk '{print $2}')
"$bin/chat-bench" --trust "$fp" soak --addr "$addr" --server-pid "$pid" --seconds "$seconds" --bots "$bots" "$@"
echo "stored files left in the data directory: $(find "$data/files" -name '*.data' 2>/dev/null | wc -l), temporary: $(find "$data/tmp" -type f 2>/dev/null | wc -l)"
