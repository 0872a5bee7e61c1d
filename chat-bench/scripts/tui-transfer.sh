#!/usr/bin/env bash
# Times the terminal client's /send-file and /get of one file of random bytes, in a real
# terminal (tmux), against a fresh release server on loopback. Prints one JSON line:
# seconds and MiB/s from the command to the line that says the checksum was verified, the
# client's peak resident memory after the upload and after the download (VmHWM), and the
# server's peak.
#
#   chat-bench/scripts/tui-transfer.sh [SIZE_MIB] [BIN_DIR]
#
# BIN_DIR (default target/release) holds chat-server and chat-tui, so that two builds can
# be measured in turns. Every wait is bounded (120 s); the screen is polled every 20 ms.
# With PERF=PREFIX set, `perf record -e cpu-clock -g` records the client during each
# transfer, into PREFIX.send.data and PREFIX.get.data.
set -euo pipefail
size_mib=${1:-1024}
bin=${2:-target/release}
command -v tmux >/dev/null || { echo "tmux not found: apt-get install tmux" >&2; exit 1; }
d=$(mktemp -d)
sock=tui-transfer-$$
cleanup() {
    tmux -L "$sock" kill-server 2>/dev/null || true
    [[ -n ${spid:-} ]] && kill "$spid" 2>/dev/null || true
    rm -rf "$d"
}
trap cleanup EXIT
mkdir "$d/data" "$d/dl" "$d/config" "$d/state"
head -c "${size_mib}M" /dev/urandom >"$d/file.bin"

"$bin/chat-server" --listen 127.0.0.1:0 --data-dir "$d/data" --quota 100GiB \
    --log-level warn >"$d/server.log" 2>&1 &
spid=$!
addr=
for _ in $(seq 100); do
    addr=$(grep -o 'listening on [0-9.:]*' "$d/server.log" | awk '{print $3}' || true)
    [[ -n $addr ]] && break
    sleep 0.05
done
[[ -n $addr ]] || { echo "the server did not start" >&2; exit 1; }
# It speaks TLS, as by default: the client trusts the key it printed.
fp=$(grep -o 'fingerprint [0-9a-f:]*' "$d/server.log" | awk '{print $2}')

XDG_CONFIG_HOME=$d/config XDG_STATE_HOME=$d/state XDG_DATA_HOME=$d/state tmux -L "$sock" new-session -d -x 200 -y 50 \
    "exec $bin/chat-tui --connect $addr --trust $fp --nick bench --download-dir $d/dl"
cpid=$(tmux -L "$sock" list-panes -F '#{pane_pid}')

screen() { tmux -L "$sock" capture-pane -p; }
# Waits until the screen matches $1 (grep -E); prints the matching line.
wait_for() {
    local deadline=$((SECONDS + 120)) line
    while ((SECONDS < deadline)); do
        line=$(screen | grep -E "$1" | tail -1 || true)
        [[ -n $line ]] && { echo "$line"; return; }
        sleep 0.02
    done
    echo "timed out waiting for: $1" >&2
    screen >&2
    exit 1
}
hwm() { awk '/VmHWM/ {print $2 * 1024}' "/proc/$1/status"; }
now() { date +%s.%N; }

wait_for 'bench joined|#lobby' >/dev/null
sleep 0.5
# Records the client with perf into $PERF.$1.data while the transfer runs, if asked.
perf_start() {
    [[ -n ${PERF:-} ]] || return 0
    perf record -e cpu-clock -g -o "$PERF.$1.data" -p "$cpid" 2>/dev/null &
    perf_pid=$!
    sleep 0.3
}
perf_stop() {
    [[ -n ${perf_pid:-} ]] || return 0
    kill -INT "$perf_pid"
    wait "$perf_pid" 2>/dev/null || true
    perf_pid=
}
perf_start send
t0=$(now)
tmux -L "$sock" send-keys "/send-file $d/file.bin" Enter
line=$(wait_for 'checksum verified by the server: file [0-9]+')
t1=$(now)
perf_stop
file_id=$(grep -oE 'file [0-9]+$' <<<"$line" | awk '{print $2}')
client_after_upload=$(hwm "$cpid")
perf_start get
t2=$(now)
tmux -L "$sock" send-keys "/get $file_id" Enter
wait_for 'SHA-256 verified' >/dev/null
t3=$(now)
perf_stop
client_after_download=$(hwm "$cpid")
server_peak=$(hwm "$spid")
cmp -s "$d/file.bin" "$d/dl/file.bin" || { echo "the download differs from the file" >&2; exit 1; }
python3 - "$size_mib" "$t0" "$t1" "$t2" "$t3" "$client_after_upload" "$client_after_download" "$server_peak" <<'PY'
import json, sys
size, t0, t1, t2, t3, cu, cd, sp = sys.argv[1:]
size = int(size); up = float(t1) - float(t0); down = float(t3) - float(t2)
print(json.dumps({
    "mib": size,
    "send_file_s": round(up, 3), "send_file_mib_per_s": round(size / up, 1),
    "get_s": round(down, 3), "get_mib_per_s": round(size / down, 1),
    "client_peak_rss_after_upload_mib": round(int(cu) / 2**20, 1),
    "client_peak_rss_after_download_mib": round(int(cd) / 2**20, 1),
    "server_peak_rss_mib": round(int(sp) / 2**20, 1),
}))
PY
