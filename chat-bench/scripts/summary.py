#!/usr/bin/env python3
"""Turns the JSON lines of fanout.sh or compare.sh into one table row per run.

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
        if anon is None:
            return f"{labels:22} no --server-pid: no memory figures"
        return f"{labels:22} {anon:.0f} B per connection (whole RSS {rss:.0f} B)"
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
