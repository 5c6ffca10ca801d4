#!/usr/bin/env python3
"""Plots a bench.sh output folder: server memory versus idle connections, and latency
percentiles versus publish rate, edge and floor side by side. Needs matplotlib
(`pip install matplotlib`). Usage: loadgen/plot.py <folder> <output prefix>"""

import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def reports(folder):
    return [json.loads(p.read_text()) for p in sorted(pathlib.Path(folder).glob("*.json"))]


def memory(runs, out):
    fig, ax = plt.subplots(figsize=(7, 4))
    series = {}
    for r in runs:
        if r["label"].startswith("idle-"):
            _, server, transport, _ = r["label"].split("-")
            series.setdefault(f"{server} {transport}", []).append((r["connected"], r["server_rss_idle_kib"] / 1024))
    for name, points in sorted(series.items()):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    ax.set_xlabel("idle connections")
    ax.set_ylabel("server RSS (MiB)")
    ax.set_title("Server memory versus idle connections")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def latency(runs, out):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, transport in zip(axes, ["ws", "sse"]):
        for server, style in [("edge", "-"), ("floor", "--")]:
            points = sorted(
                (r["deliveries_per_sec"], r["latency"])
                for r in runs
                if r["label"].startswith(f"fanout-{server}-{transport}-")
            )
            if not points:
                continue
            x = [p[0] / 1000 for p in points]
            for q, color in [("p50_ms", "tab:green"), ("p99_ms", "tab:orange"), ("p999_ms", "tab:red")]:
                ax.plot(x, [p[1][q] for p in points], style, marker="o", color=color, label=f"{server} {q[:-3]}")
        ax.set_title(f"{transport}: 10,000 clients")
        ax.set_xlabel("deliveries per second (thousands)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("publish → receive latency (ms)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main():
    folder, prefix = sys.argv[1], sys.argv[2]
    runs = reports(folder)
    memory(runs, f"{prefix}-memory.png")
    latency(runs, f"{prefix}-latency.png")


if __name__ == "__main__":
    main()
