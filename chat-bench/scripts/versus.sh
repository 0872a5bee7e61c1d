#!/usr/bin/env bash
# Measures two builds side by side in one session: B (one sender, 1,000 members: the
# server's CPU per delivery) and idle connections (memory per connection), the runs of the
# two builds taking turns so that a noisy moment of the machine falls on both alike. Each
# build is a folder holding its own `chat-server` and `chat-bench` (each generator speaks
# its own server's protocol). Prints one JSON line per run, prefixed by scenario and build;
# summary.py turns them into a table.
#
#   chat-bench/scripts/versus.sh OLD_DIR [NEW_DIR] [ROUNDS] | tee runs.txt
#   chat-bench/scripts/summary.py runs.txt
#
# NEW_DIR defaults to this workspace's release build; ROUNDS to 3. Both servers speak
# plaintext (a build from before TLS speaks nothing else). To keep an older build:
#   git worktree add /tmp/old REV && (cd /tmp/old && cargo build --release -p chat-server -p chat-bench)
set -euo pipefail
cd "$(dirname "$0")/../.."
old=${1:?usage: versus.sh OLD_DIR [NEW_DIR] [ROUNDS]}
source chat-bench/scripts/common.sh
new=${2:-$bin}
rounds=${3:-3}

run() {
    local name=$1 build=$2; shift 2
    bin=${!build}
    PLAINTEXT=1 start_server
    printf '%s %s ' "$name" "$build"
    "$bin/chat-bench" "${reach[@]}" "$@" --addr "$addr" --server-pid "$pid" --json
    stop_server
}

for round in $(seq "$rounds"); do
    echo "# round $round"
    for build in old new; do run B $build fanout --clients 1000 --senders 1 --messages 1000; done
    for build in old new; do run C1000 $build idle --connections 1000 --hold 5; done
    for build in old new; do run C5000 $build idle --connections 5000 --hold 5; done
done
