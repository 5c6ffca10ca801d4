#!/usr/bin/env python3
"""Plots a bench.sh output folder: server memory versus idle connections, latency percentiles
versus deliveries per second, and throughput (deliveries received and server CPU) versus the
deliveries offered, every server (edge, floor, peers) side by side; with several runs, the
median of each step. Needs matplotlib (`pip install matplotlib`).
Usage: loadgen/plot.py <folder> <output prefix>"""

import json
import pathlib
import re
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


LABEL = re.compile(r"^(idle|fanout|hold|burst)-(.+)-(ws|sse)-([\d.]+)(?:-r(\d+))?$")
STYLES = {"edge": "-", "floor": "--", "pushpin": ":", "nats-ws": "-."}


def reports(folder):
    """[(scenario, server, transport, parameter, report)]"""
    out = []
    for p in sorted(pathlib.Path(folder).glob("*.json")):
        r = json.loads(p.read_text())
        m = LABEL.match(r["label"])
        if m:
            scenario, server, transport, param, _ = m.groups()
            out.append((scenario, server, transport, float(param), r))
    return out


def medians(points):
    """[(x, y)] with several y per x -> sorted [(x, median y)]"""
    by_x = {}
    for x, y in points:
        by_x.setdefault(x, []).append(y)
    return sorted((x, statistics.median(ys)) for x, ys in by_x.items())


def memory(runs, out):
    fig, ax = plt.subplots(figsize=(7, 4))
    series = {}
    for scenario, server, transport, n, r in runs:
        if scenario == "idle":
            series.setdefault(f"{server} {transport}", []).append((n, r["server_rss_idle_kib"] / 1024))
    for name, points in sorted(series.items()):
        points = medians(points)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    ax.set_xlabel("idle connections")
    ax.set_ylabel("server RSS (MiB)")
    ax.set_title("Server memory versus idle connections")
    ax.grid(alpha=0.3)
    if series:
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def latency(runs, out):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    servers = sorted({s for sc, s, *_ in runs if sc == "fanout"}, key=lambda s: list(STYLES).index(s) if s in STYLES else 9)
    for ax, transport in zip(axes, ["ws", "sse"]):
        clients = set()
        for server in servers:
            steps = [(rate, r) for sc, s, t, rate, r in runs if sc == "fanout" and s == server and t == transport]
            if not steps:
                continue
            clients.update(r["connected"] for _, r in steps)
            x = [v / 1000 for _, v in medians([(rate, r["deliveries_per_sec"]) for rate, r in steps])]
            for q, color in [("p50_ms", "tab:green"), ("p99_ms", "tab:orange"), ("p999_ms", "tab:red")]:
                y = [v for _, v in medians([(rate, r["latency"][q]) for rate, r in steps])]
                ax.plot(x, y, STYLES.get(server, "-"), marker="o", color=color, label=f"{server} {q[:-3]}")
        ax.set_title(f"{transport}: {max(clients, default=0):,} clients")
        ax.set_xlabel("deliveries per second (thousands)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("publish → receive latency (ms, log scale)")
    for ax in axes:
        # Peers that saturate reach seconds; the edge and the floor stay in milliseconds.
        ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def throughput(runs, out):
    """Top: deliveries received per second against those offered (events/s x clients); a server
    that keeps up stays on the diagonal. Bottom: the server's CPU (cores) for it."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex="col")
    servers = sorted({s for sc, s, *_ in runs if sc == "fanout"}, key=lambda s: list(STYLES).index(s) if s in STYLES else 9)
    colors = {"edge": "tab:blue", "floor": "tab:gray", "pushpin": "tab:purple", "nats-ws": "tab:brown"}
    for col, transport in enumerate(["ws", "sse"]):
        top, bottom = axes[0][col], axes[1][col]
        most = 0
        for server in servers:
            steps = [(rate, r) for sc, s, t, rate, r in runs if sc == "fanout" and s == server and t == transport]
            if not steps:
                continue
            offered = medians([(rate, rate * r["connected"] / 1000) for rate, r in steps])
            got = medians([(rate, r["deliveries_per_sec"] / 1000) for rate, r in steps])
            cpu = medians([(rate, r["server_cpu"] or 0) for rate, r in steps])
            x = [v for _, v in offered]
            most = max([most] + x)
            style = dict(linestyle=STYLES.get(server, "-"), marker="o", color=colors.get(server))
            top.plot(x, [v for _, v in got], label=server, **style)
            bottom.plot(x, [v for _, v in cpu], label=server, **style)
        top.plot([0, most], [0, most], color="black", alpha=0.2, linewidth=1)
        top.set_title(f"{transport}: deliveries received")
        top.set_ylabel("deliveries/s received (thousands)")
        bottom.set_title(f"{transport}: server CPU")
        bottom.set_ylabel("server CPU (cores; 1 = its whole core)")
        bottom.set_xlabel("deliveries/s offered (thousands)")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main():
    folder, prefix = sys.argv[1], sys.argv[2]
    runs = reports(folder)
    memory(runs, f"{prefix}-memory.png")
    latency(runs, f"{prefix}-latency.png")
    throughput(runs, f"{prefix}-throughput.png")


if __name__ == "__main__":
    main()
