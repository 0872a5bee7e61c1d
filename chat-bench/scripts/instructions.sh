#!/usr/bin/env bash
# Counts the server's instructions per delivery on B (one sender, 1,000 members) for two
# builds, under callgrind. A count of instructions does not depend on what else the
# machine is doing, so it compares builds where CPU time on a shared machine is too noisy.
# Each build runs B twice, with 200 and 1,200 messages; the difference of the two totals
# divided by the difference of deliveries (1,000,000) leaves out start-up, logins and
# shutdown. Each build is a folder holding its `chat-server` and `chat-bench`; both
# servers speak plaintext (a build from before TLS speaks nothing else).
#
#   chat-bench/scripts/instructions.sh OLD_DIR [NEW_DIR]
#
# NEW_DIR defaults to this workspace's release build. Needs valgrind. Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
old=${1:?usage: instructions.sh OLD_DIR [NEW_DIR]}
source chat-bench/scripts/common.sh
new=${2:-$bin}
command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install valgrind" >&2; exit 1; }

# Runs B with $2 messages against build $1 under callgrind; prints the server's total
# instruction count.
count() {
    local dir=${!1} messages=$2 out log plain=()
    out=$(mktemp) log=$(mktemp)
    read -r -a plain <<<"$(plaintext_flag "$dir")"
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$dir/chat-server" --listen 127.0.0.1:0 --log-level warn --msg-rate 0 \
        --max-connections-per-ip 0 --workers 1 --data-dir "$(mktemp -d)" "${plain[@]}" >"$log" 2>/dev/null &
    local pid=$! addr=
    for _ in $(seq 600); do
        addr=$(grep -o 'listening on [0-9.:]*' "$log" | awk '{print $3}' || true)
        [[ -n $addr ]] && break
        sleep 0.1
    done
    [[ -n $addr ]] || { echo "server did not start" >&2; kill "$pid"; exit 1; }
    "$dir/chat-bench" "${plain[@]}" fanout --clients 1000 --senders 1 --messages "$messages" \
        --addr "$addr" --timeout 600 >/dev/null
    kill "$pid"; wait "$pid" 2>/dev/null || true
    awk '/^(summary|totals):/ {print $2; exit}' "$out"
    rm -f "$out" "$log"
}

for build in old new; do
    small=$(count $build 200)
    large=$(count $build 1200)
    python3 -c "import sys; s, l = int(sys.argv[1]), int(sys.argv[2]); print(f'$build: {s:,} and {l:,} instructions; {(l - s) / 1e6:.0f} per delivery')" "$small" "$large"
done
