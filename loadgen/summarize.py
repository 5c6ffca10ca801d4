#!/usr/bin/env python3
"""Summarises a bench.sh output folder (one JSON report per load run) as Markdown tables:
idle memory per connection (slope across steps), fan-out rate steps with the highest sustained
rate (p99 <= 100 ms, no loss), and the long hold. Standard library only."""

import json
import pathlib
import sys


def load(folder):
    reports = {}
    for path in sorted(pathlib.Path(folder).glob("*.json")):
        r = json.loads(path.read_text())
        reports[r["label"]] = r
    return reports


def idle(reports):
    rows = []
    groups = {}
    for r in reports.values():
        if r["label"].startswith("idle-"):
            _, server, transport, n = r["label"].split("-")
            groups.setdefault((server, transport), []).append(r)
    if not groups:
        return
    print("### Idle connections: server memory\n")
    print("| server | transport | connections | server RSS | KiB/conn (vs. empty) | TCP mem pages | loadgen RSS |")
    print("|---|---|---|---|---|---|---|")
    for (server, transport), runs in sorted(groups.items()):
        runs.sort(key=lambda r: r["connected"])
        for r in runs:
            print(f'| {server} | {transport} | {r["connected"]} | {r["server_rss_idle_kib"] / 1024:.1f} MiB | '
                  f'{r["server_kib_per_connection"]:.2f} | {r["sockstat_idle"]["tcp_mem_pages"]} | '
                  f'{(r["loadgen_rss_kib"] or 0) / 1024:.1f} MiB |')
        if len(runs) >= 2:
            lo, hi = runs[0], runs[-1]
            slope = (hi["server_rss_idle_kib"] - lo["server_rss_idle_kib"]) / max(1, hi["connected"] - lo["connected"])
            rows.append((server, transport, slope))
    if rows:
        print("\n| server | transport | KiB per connection (RSS slope) | at 100k | at 1M |")
        print("|---|---|---|---|---|")
        for server, transport, slope in rows:
            print(f"| {server} | {transport} | {slope:.2f} | {slope * 100_000 / 1024 / 1024:.2f} GiB | "
                  f"{slope * 1_000_000 / 1024 / 1024:.1f} GiB |")
    print()


def fanout(reports):
    groups = {}
    for r in reports.values():
        if r["label"].startswith("fanout-"):
            _, server, transport, rate = r["label"].split("-")
            groups.setdefault((server, transport), []).append(r)
    if not groups:
        return
    print("### Fan-out: rate steps\n")
    print("| server | transport | clients | events/s | deliveries/s | p50 ms | p99 ms | p99.9 ms | lost | out of order | server core busy | other core busy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    best = {}
    for (server, transport), runs in sorted(groups.items()):
        runs.sort(key=lambda r: r["rate"])
        for r in runs:
            lat, cores = r["latency"], r["core_busy"] + [0, 0]
            print(f'| {server} | {transport} | {r["connected"]} | {r["rate"]:g} | {r["deliveries_per_sec"]:.0f} | '
                  f'{lat["p50_ms"]:.2f} | {lat["p99_ms"]:.2f} | {lat["p999_ms"]:.2f} | {r["lost"]} | {r["out_of_order"]} | '
                  f'{cores[0]:.0%} | {cores[1]:.0%} |')
            if lat["p99_ms"] <= 100 and r["lost"] == 0:
                best[(server, transport)] = r
    print("\n| server | transport | highest sustained deliveries/s (p99 <= 100 ms, no loss) | at events/s | server core busy |")
    print("|---|---|---|---|---|")
    for (server, transport), r in sorted(best.items()):
        print(f'| {server} | {transport} | {r["deliveries_per_sec"]:.0f} | {r["rate"]:g} | {r["core_busy"][0]:.0%} |')
    for transport in sorted({t for _, t in best}):
        edge, floor = best.get(("edge", transport)), best.get(("floor", transport))
        if edge and floor and floor["deliveries_per_sec"]:
            print(f'\n{transport}: edge / floor = {edge["deliveries_per_sec"] / floor["deliveries_per_sec"]:.0%}')
    print()


def hold(reports):
    runs = [r for r in reports.values() if r["label"].startswith("hold-")]
    if not runs:
        return
    print("### Held connections with a broadcast every 10 s\n")
    print("| server | connections | held for (events published) | received | expected | lost | out of order | closes |")
    print("|---|---|---|---|---|---|---|---|")
    for r in sorted(runs, key=lambda r: r["label"]):
        server = r["label"].split("-")[1]
        print(f'| {server} | {r["connected"]} | {r["published"]} | {r["received"]} | {r["expected"]} | {r["lost"]} | '
              f'{r["out_of_order"]} | {r["closes"]} |')
    print()


def main():
    reports = load(sys.argv[1])
    idle(reports)
    fanout(reports)
    hold(reports)


if __name__ == "__main__":
    main()
