#!/usr/bin/env bash
# Measures our server beside two reference IRC servers in one session: ngIRCd and InspIRCd
# (Debian's packages ngircd and inspircd). Every scenario starts a fresh server; within a
# round the servers take turns, so a noisy moment of the machine falls on all of them alike.
# Prints one JSON line per run, prefixed by the scenario and the server; summary.py turns
# them into a table.
#
#   chat-bench/scripts/compare.sh [ROUNDS] | tee runs.txt; chat-bench/scripts/summary.py runs.txt
#
# Servers: chat (ours, default worker threads), chat-1w (ours, one worker thread, as the
# IRC servers are single-threaded), ngircd, inspircd. Their configurations, in
# reference/, listen on loopback only and lift their per-address and flood limits; chat-bench
# drives them over IRC (`--protocol irc`). Ours speaks plaintext here, as the IRC servers
# do. Every run is bounded by chat-bench's --timeout.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-2}
for exe in ngircd inspircd; do
    command -v "$exe" >/dev/null || { echo "$exe not found: apt-get install ngircd inspircd" >&2; exit 1; }
done
source chat-bench/scripts/common.sh
reference=chat-bench/scripts/reference

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts reference server $1 from its configuration template; sets $pid, $addr and $dir.
start_reference() {
    local name=$1 port
    port=$(free_port)
    dir=$(mktemp -d)
    sed "s/@PORT@/$port/; s#@DIR@#$dir#g" "$reference/$name.conf.in" >"$dir/$name.conf"
    case $name in
        ngircd) ngircd --nodaemon --config "$dir/$name.conf" >"$dir/out" 2>&1 & ;;
        inspircd) inspircd --nofork --runasroot --config "$dir/$name.conf" >"$dir/out" 2>&1 & ;;
    esac
    pid=$!
    addr=127.0.0.1:$port
    for _ in $(seq 100); do
        [[ -n $(ss -Hltn "sport = :$port") ]] && return
        sleep 0.05
    done
    echo "$name did not start:" >&2; cat "$dir/out" >&2; kill "$pid"; exit 1
}

run() {
    local scenario=$1 server=$2; shift 2
    local protocol=chat workers=
    reach=()
    case $server in
        chat) PLAINTEXT=1 start_server ;;
        chat-1w) workers=1; PLAINTEXT=1 start_server ;;
        *) protocol=irc; start_reference "$server" ;;
    esac
    local report
    report=$("$bin/chat-bench" "${reach[@]}" "$@" --protocol "$protocol" --addr "$addr" --server-pid "$pid" --json) ||
        report='{"failed": true}'
    echo "$scenario $server $report"
    stop_server
    [[ $protocol == chat ]] || rm -rf "$dir"
}

servers=(chat chat-1w ngircd inspircd)
for round in $(seq "$rounds"); do
    echo "# round $round"
    for s in "${servers[@]}"; do run A "$s" fanout --clients 100 --senders 10 --messages 1000; done
    for s in "${servers[@]}"; do run A-w50 "$s" fanout --clients 100 --senders 10 --messages 1000 --window 50; done
    for s in "${servers[@]}"; do run B "$s" fanout --clients 1000 --senders 1 --messages 1000; done
    for s in "${servers[@]}"; do run A1 "$s" fanout --clients 100 --senders 10 --messages 200 --window 1; done
    for s in "${servers[@]}"; do run B1 "$s" fanout --clients 1000 --senders 1 --messages 200 --window 1; done
    for s in "${servers[@]}"; do run D "$s" fanout --clients 1000 --senders 100 --messages 1000 --rooms 100; done
    for s in "${servers[@]}"; do run C1000 "$s" idle --connections 1000 --hold 5; done
    # 5,000 in 100 rooms: in one room, the join storm (every join told to every member,
    # 12.5 million notices) keeps ngIRCd busy for over 90 s.
    for s in "${servers[@]}"; do run C5000x100 "$s" idle --connections 5000 --rooms 100 --hold 5; done
done
