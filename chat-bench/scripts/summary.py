#!/usr/bin/env python3
"""Turns the JSON lines of fanout.sh, compare.sh or tls.sh into one table row per run.

    chat-bench/scripts/compare.sh 2 | tee runs.txt
    chat-bench/scripts/summary.py runs.txt        # or: ... | summary.py

Each input line is `LABEL... {json}`: the labels (scenario, and server for compare.sh)
come first, the report of chat-bench last. Lines starting with `#` are skipped; a run that
failed is shown as failed. Rows are grouped by scenario, in the order they first appear.
"""

import json
import sys


def row(labels, report):
    if report.get("failed"):
        return f"{labels:22} failed"
    if "deliveries_per_second" in report:
        lat = report["latency_us"]
        server = report.get("server") or {}
        return (
            f"{labels:22} {report['deliveries_per_second'] / 1e6:5.2f} M/s"
            f"  server {server.get('cpu_us_per_delivery', float('nan')):.3f} us/delivery"
            f"  generator {report['generator_cpu_us_per_delivery']:.3f}"
            f"  latency ms p50 {lat['p50'] / 1000:.1f} p90 {lat['p90'] / 1000:.1f}"
            f" p99 {lat['p99'] / 1000:.1f} max {lat['max'] / 1000:.1f}"
            f"  peak RSS {server.get('peak_rss_bytes', 0) >> 20} MiB"
        )
    if "connections" in report:
        anon, rss = report.get("bytes_per_connection"), report.get("rss_bytes_per_connection")
        joined = f"joined in {report['connect_ms']} ms" if "connect_ms" in report else ""
        if anon is None:
            return f"{labels:22} {joined}  no --server-pid: no memory figures"
        return f"{labels:22} {anon:.0f} B per connection (whole RSS {rss:.0f} B)  {joined}"
    if "upload_mib_per_s" in report:
        cpu = report["cpu_seconds"]
        return (
            f"{labels:22} upload {report['upload_mib_per_s']:.0f} MiB/s"
            f"  download {report['download_mib_per_s']:.0f} MiB/s"
            f"  (TCP {report['plain_tcp_mib_per_s']:.0f}, SHA-256 {report['sha256_mib_per_s']:.0f},"
            f" disk {report['disk_fsync_mib_per_s']:.0f})"
            f"  CPU s up: bench {cpu['bench_upload']:.2f} server {cpu['server_upload'] or 0:.2f}"
            f"  down: bench {cpu['bench_download']:.2f} server {cpu['server_download'] or 0:.2f}"
        )
    return f"{labels:22} {json.dumps(report)[:120]}"


def main():
    source = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    groups = {}
    for line in source:
        line = line.strip()
        if not line or line.startswith("#") or "{" not in line:
            continue
        labels, _, text = line.partition("{")
        labels = labels.split()
        try:
            report = json.loads("{" + text)
        except json.JSONDecodeError:
            report = {"failed": True}
        scenario = labels[0] if labels else "?"
        groups.setdefault(scenario, []).append(row(" ".join(labels), report))
    for rows in groups.values():
        print("\n".join(rows))
        print()


if __name__ == "__main__":
    main()
