#!/usr/bin/env python3
"""Summarises a bench.sh output folder (one JSON report per load run) as Markdown tables:
idle memory per connection (slope across steps), fan-out rate steps with the highest sustained
rate (p99 <= 100 ms, no loss, server core the busier one), the burst, the long hold, reconnect
storms, filtered against unfiltered fan-out, and the edge against each peer. With several runs (labels ending in -r<run>), each figure is the median of
the runs with their spread (min-max). Standard library only."""

import json
import pathlib
import re
import statistics
import sys

# The parameter is the clients (idle, hold, storms), the rate (fanout), the events (burst), or the
# kinds the clients are spread over (filter; 0: everyone gets every event; filter-slow: everyone
# gets every event at the filter rate divided by that many).
LABEL = re.compile(r"^(idle|fanout|hold|burst|storm-old|storm|filter-slow|filter)-(.+)-(ws|sse)-([\d.]+)(?:-r(\d+))?$")
ORDER = ["edge", "floor", "pushpin", "nats-ws"]
P99_LIMIT_MS = 100


def load(folder):
    """{(scenario, server, transport, parameter): [report per run]}"""
    groups = {}
    for path in sorted(pathlib.Path(folder).glob("*.json")):
        r = json.loads(path.read_text())
        m = LABEL.match(r["label"])
        if not m:
            continue
        scenario, server, transport, param, _run = m.groups()
        groups.setdefault((scenario, server, transport, float(param)), []).append(r)
    return groups


def server_key(server):
    return (ORDER.index(server) if server in ORDER else len(ORDER), server)


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values, fmt="{:.2f}"):
    """'median' for one run, 'median (min-max)' for several."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = fmt.format(statistics.median(values))
    if len(values) == 1:
        return m
    return f"{m} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def cores(r):
    c = r["core_busy"] + [0, 0]
    return c[0], c[1]


def server_core_busier(runs):
    """A result counts only when the server's core (0) was the busy one."""
    return med([cores(r)[0] for r in runs]) >= med([cores(r)[1] for r in runs])


def per_cpu_second(r):
    secs = r.get("server_cpu_secs")
    return r["received"] / secs if secs else None


def of(groups, scenario):
    """{(server, transport): {parameter: runs}} for one scenario, servers in ORDER."""
    out = {}
    for (s, server, transport, param), runs in groups.items():
        if s == scenario:
            out.setdefault((server, transport), {})[param] = runs
    return dict(sorted(out.items(), key=lambda kv: (server_key(kv[0][0]), kv[0][1])))


def idle(groups):
    series = of(groups, "idle")
    if not series:
        return
    print("### Idle connections: server memory\n")
    print("| server | transport | connections | server RSS MiB | KiB/conn (vs. empty) | TCP mem pages | loadgen RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    slopes = []
    for (server, transport), steps in series.items():
        for n, runs in sorted(steps.items()):
            print(f'| {server} | {transport} | {n:g} | {spread([r["server_rss_idle_kib"] / 1024 for r in runs], "{:.1f}")} | '
                  f'{spread([r["server_kib_per_connection"] for r in runs])} | '
                  f'{med([r["sockstat_idle"]["tcp_mem_pages"] for r in runs]):g} | '
                  f'{spread([(r["loadgen_rss_kib"] or 0) / 1024 for r in runs], "{:.1f}")} |')
        if len(steps) >= 2:
            lo, hi = min(steps), max(steps)
            per_run = []
            for a, b in zip(sorted(steps[lo], key=lambda r: r["label"]), sorted(steps[hi], key=lambda r: r["label"])):
                per_run.append((b["server_rss_idle_kib"] - a["server_rss_idle_kib"]) / max(1, b["connected"] - a["connected"]))
            slopes.append((server, transport, per_run))
    if slopes:
        print("\n| server | transport | KiB per connection (RSS slope) | at 100k | at 1M |")
        print("|---|---|---|---|---|")
        for server, transport, per_run in slopes:
            m = statistics.median(per_run)
            print(f"| {server} | {transport} | {spread(per_run)} | {m * 100_000 / 1024 / 1024:.2f} GiB | "
                  f"{m * 1_000_000 / 1024 / 1024:.1f} GiB |")
    print()


def sustained(runs):
    return all(r["latency"]["p99_ms"] <= P99_LIMIT_MS and r["lost"] == 0 for r in runs)


def fanout(groups):
    series = of(groups, "fanout")
    if not series:
        return {}
    print("### Fan-out: rate steps\n")
    print("A step counts only when the server's core was the busier one (otherwise the load side "
          "limited it); `*` marks steps that do not count.\n")
    print("| server | transport | clients | events/s | deliveries/s | p50 ms | p99 ms | p99.9 ms | lost | out of order | "
          "server CPU (cores) | deliveries per server CPU s | server core | other core |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    best = {}
    for (server, transport), steps in series.items():
        # A run stops raising the rate after its first failed step: a step that some run did not
        # reach was not sustained in that run.
        all_runs = max(len(runs) for runs in steps.values())
        for rate, runs in sorted(steps.items()):
            counts = server_core_busier(runs)
            lat = [r["latency"] for r in runs]
            print(f'| {server} | {transport} | {med([r["connected"] for r in runs]):g} | {rate:g}{"" if counts else " *"} | '
                  f'{spread([r["deliveries_per_sec"] for r in runs], "{:.0f}")} | {spread([l["p50_ms"] for l in lat])} | '
                  f'{spread([l["p99_ms"] for l in lat])} | {spread([l["p999_ms"] for l in lat])} | '
                  f'{sum(r["lost"] for r in runs)} | {sum(r["out_of_order"] for r in runs)} | '
                  f'{spread([r["server_cpu"] for r in runs], "{:.3f}")} | {spread([per_cpu_second(r) for r in runs], "{:.0f}")} | '
                  f'{med([cores(r)[0] for r in runs]):.0%} | {med([cores(r)[1] for r in runs]):.0%} |')
            if len(runs) == all_runs and sustained(runs) and counts:
                best[(server, transport)] = (rate, runs)
    print(f"\n| server | transport | highest sustained deliveries/s (p99 <= {P99_LIMIT_MS} ms, no loss) | at events/s | "
          "deliveries per server CPU s there | server core busy |")
    print("|---|---|---|---|---|---|")
    for (server, transport), (rate, runs) in sorted(best.items(), key=lambda kv: (server_key(kv[0][0]), kv[0][1])):
        print(f'| {server} | {transport} | {spread([r["deliveries_per_sec"] for r in runs], "{:.0f}")} | {rate:g} | '
              f'{spread([per_cpu_second(r) for r in runs], "{:.0f}")} | {med([cores(r)[0] for r in runs]):.0%} |')
    print()
    return {"series": series, "best": best}


def p99_at(steps, rate):
    runs = steps.get(rate)
    return med([r["latency"]["p99_ms"] for r in runs]) if runs else None


def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "-"


def num(value, fmt):
    return fmt.format(value) if value is not None else "-"


def versus(fan):
    """The edge against each other server, per transport."""
    if not fan:
        return
    series, best = fan["series"], fan["best"]
    rows = []
    for (server, transport) in series:
        if server == "edge" or ("edge", transport) not in series:
            continue
        edge_best, peer_best = best.get(("edge", transport)), best.get((server, transport))
        rows.append((transport, server, edge_best, peer_best))
    if not rows:
        return
    print("### The edge against each other server\n")
    print("Deliveries per server CPU second at each server's highest sustained step; p99 at half the "
          "lower of the two highest sustained rates (the nearest measured rate at or below it that both ran).\n")
    print("| transport | other | highest sustained deliveries/s: edge / other | ratio | deliveries per server CPU s: "
          "edge / other | ratio | at events/s | p99 ms: edge / other | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for transport, server, edge_best, peer_best in rows:
        e_rate = med([r["deliveries_per_sec"] for r in edge_best[1]]) if edge_best else None
        p_rate = med([r["deliveries_per_sec"] for r in peer_best[1]]) if peer_best else None
        e_cpu = med([per_cpu_second(r) for r in edge_best[1]]) if edge_best else None
        p_cpu = med([per_cpu_second(r) for r in peer_best[1]]) if peer_best else None
        at, e_p99, p_p99 = None, None, None
        if edge_best and peer_best:
            half = min(edge_best[0], peer_best[0]) / 2
            common = [x for x in series[("edge", transport)] if x in series[(server, transport)] and x <= half]
            if common:
                at = max(common)
                e_p99, p_p99 = p99_at(series[("edge", transport)], at), p99_at(series[(server, transport)], at)
        print(f'| {transport} | {server} | {num(e_rate, "{:.0f}")} / {num(p_rate, "{:.0f}")} | {ratio(e_rate, p_rate)} | '
              f'{num(e_cpu, "{:.0f}")} / {num(p_cpu, "{:.0f}")} | {ratio(e_cpu, p_cpu)} | {num(at, "{:g}")} | '
              f'{num(e_p99, "{:.2f}")} / {num(p_p99, "{:.2f}")} | {ratio(e_p99, p_p99)} |')
    print()
    print("At the same step (the same clients and events/s), every step both ran: server CPU and p99, edge / other "
          "(`*`: a step that does not count for one of the two; `lost`: the other lost deliveries there).\n")
    print("| transport | other | events/s | deliveries/s: edge / other | deliveries per server CPU s: edge / other | ratio | "
          "p99 ms: edge / other | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for transport, server, _, _ in rows:
        edge_steps, peer_steps = series[("edge", transport)], series[(server, transport)]
        for x in sorted(set(edge_steps) & set(peer_steps)):
            e, p = edge_steps[x], peer_steps[x]
            mark = "" if server_core_busier(e) and server_core_busier(p) else " *"
            lost = " lost" if sum(r["lost"] for r in p) else ""
            e_cpu, p_cpu = med([per_cpu_second(r) for r in e]), med([per_cpu_second(r) for r in p])
            e_p99, p_p99 = med([r["latency"]["p99_ms"] for r in e]), med([r["latency"]["p99_ms"] for r in p])
            print(f'| {transport} | {server} | {x:g}{mark} | {med([r["deliveries_per_sec"] for r in e]):.0f} / '
                  f'{med([r["deliveries_per_sec"] for r in p]):.0f}{lost} | {num(e_cpu, "{:.0f}")} / {num(p_cpu, "{:.0f}")} | '
                  f'{ratio(e_cpu, p_cpu)} | {num(e_p99, "{:.2f}")} / {num(p_p99, "{:.2f}")} | {ratio(e_p99, p_p99)} |')
    print()


def burst(groups):
    series = of(groups, "burst")
    if not series:
        return
    print("### Burst: events published as fast as possible\n")
    print("Time from the first event handed to the publisher until the last delivery to any client.\n")
    print("| server | transport | clients | events | publish ms | last delivery ms | deliveries/s | p99 ms | lost | "
          "out of order | closes | server core | other core |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    last = {}
    for (server, transport), steps in series.items():
        for events, runs in sorted(steps.items()):
            counts = server_core_busier(runs)
            last[(server, transport)] = med([r["last_delivery_ms"] for r in runs])
            print(f'| {server} | {transport} | {med([r["connected"] for r in runs]):g} | {events:g} | '
                  f'{spread([r["burst_publish_ms"] for r in runs], "{:.0f}")} | '
                  f'{spread([r["last_delivery_ms"] for r in runs], "{:.0f}")}{"" if counts else " *"} | '
                  f'{spread([r["deliveries_per_sec"] for r in runs], "{:.0f}")} | '
                  f'{spread([r["latency"]["p99_ms"] for r in runs])} | {sum(r["lost"] for r in runs)} | '
                  f'{sum(r["out_of_order"] for r in runs)} | {sum(r["closes"] for r in runs)} | '
                  f'{med([cores(r)[0] for r in runs]):.0%} | {med([cores(r)[1] for r in runs]):.0%} |')
    ratios = [(t, s, last[("edge", t)], v) for (s, t), v in last.items() if s != "edge" and ("edge", t) in last]
    if ratios:
        print("\n| transport | other | last delivery ms: edge / other | edge time as a share of the other's |")
        print("|---|---|---|---|")
        for transport, server, e, p in ratios:
            print(f'| {transport} | {server} | {num(e, "{:.0f}")} / {num(p, "{:.0f}")} | {ratio(e, p)} |')
    print("\n`*`: the server's core was not the busier one.\n")


def hold(groups):
    series = of(groups, "hold")
    if not series:
        return
    print("### Held connections with a broadcast every 10 s\n")
    print("| server | connections | events published | received | expected | lost | out of order | closes |")
    print("|---|---|---|---|---|---|---|---|")
    for (server, _transport), steps in series.items():
        for _n, runs in sorted(steps.items()):
            for r in runs:
                print(f'| {server} | {r["connected"]} | {r["published"]} | {r["received"]} | {r["expected"]} | {r["lost"]} | '
                      f'{r["out_of_order"]} | {r["closes"]} |')
    print()


def storm(groups):
    rows = [(s, k, v) for s in ("storm", "storm-old") for k, v in of(groups, s).items()]
    if not rows:
        return
    print("### Reconnect storms: every client resumes at once by cursor\n")
    print("Time from the start of the storm until every client had every event up to the stream's newest "
          "at the start; JetStream consumers sampled every 100 ms on the stream the clients resume from (the "
          "edge's; for nats-ws, the one on the WebSocket nats-server). Server CPU seconds from the first connect "
          "until every client caught up.\n")
    print("| scenario | server | clients | connected | cursor back | caught up | caught up ms | max consumers | "
          "lost | duplicates/out of order | closes | server CPU s | server core | other core |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for scenario, (server, _transport), steps in rows:
        for n, runs in sorted(steps.items()):
            print(f'| {scenario} | {server} | {n:g} | {med([r["connected"] for r in runs]):g} | '
                  f'{med([r["storm_back"] for r in runs]):g} | {med([r["caught_up"] for r in runs]):g} | '
                  f'{spread([r["caught_up_ms"] for r in runs], "{:.0f}")} | '
                  f'{max((r["max_consumers"] or 0) for r in runs)} | {sum(r["lost"] for r in runs)} | '
                  f'{sum(r["out_of_order"] for r in runs)} | {sum(r["closes"] for r in runs)} | '
                  f'{spread([r.get("server_cpu_secs") for r in runs])} | '
                  f'{med([cores(r)[0] for r in runs]):.0%} | {med([cores(r)[1] for r in runs]):.0%} |')
    print()


def cpu_us_per_delivery(r):
    secs = r.get("server_cpu_secs")
    return secs / r["received"] * 1e6 if secs and r["received"] else None


def filtered(groups):
    series = of(groups, "filter")
    if not series:
        return
    slow = of(groups, "filter-slow")
    for key, steps in slow.items():
        for k, runs in steps.items():
            series.setdefault(key, {})[-k] = runs
    print("### Filtered fan-out: one kind per client against everyone getting every event\n")
    print("The same clients; `filter` K: client i subscribes to `?events=<kind>`, the i mod K-th "
          "of the K kinds the run publishes most, and is owed the events published of that kind; `all` takes every "
          "event at the same publish rate, `all, rate / K` every event at a K times lower rate (about the filtered "
          "run's deliveries per second). Server CPU over publishing and draining.\n")
    print("| server | transport | clients | filter | events/s | published | deliveries/s | expected | lost | wrong kind | "
          "out of order | progress markers | p50 ms | p99 ms | server CPU (cores) | server CPU µs per delivery | server core | other core |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    per = {}
    for (server, transport), steps in series.items():
        for k, runs in sorted(steps.items()):
            per[(server, transport, k)] = runs
            lat = [r["latency"] for r in runs]
            print(f'| {server} | {transport} | {med([r["connected"] for r in runs]):g} | '
                  f'{filter_name(k)} | {med([r["rate"] for r in runs]):g} | '
                  f'{med([r["published"] for r in runs]):g} | {spread_of(runs, "deliveries_per_sec", "{:.0f}")} | '
                  f'{med([r["expected"] for r in runs]):.0f} | {sum(r["lost"] for r in runs)} | '
                  f'{sum(r.get("wrong_kind", 0) for r in runs)} | {sum(r["out_of_order"] for r in runs)} | '
                  f'{med([r.get("progress_markers", 0) for r in runs]):g} | '
                  f'{spread([l["p50_ms"] for l in lat])} | {spread([l["p99_ms"] for l in lat])} | '
                  f'{spread_of(runs, "server_cpu", "{:.3f}")} | {spread([cpu_us_per_delivery(r) for r in runs])} | '
                  f'{med([cores(r)[0] for r in runs]):.0%} | {med([cores(r)[1] for r in runs]):.0%} |')
    kinds = [(key, r) for key, runs in per.items() if key[2] > 0 for r in runs[:1]]
    for (server, transport, k), r in kinds:
        print(f"\n{server} {transport}, filter 1 of {k:g} ({r['label']}): per kind\n")
        print("| kind | clients | published | expected | received | lost |")
        print("|---|---|---|---|---|---|")
        for t in r.get("filter_kinds", []):
            print(f'| `{t["kind"]}` | {t["connections"]} | {t["published"]} | {t["expected"]} | {t["received"]} | {t["lost"]} |')
    pairs = [(key, per[(key[0], key[1], 0)], per.get((key[0], key[1], -key[2])), v)
             for key, v in per.items() if key[2] > 0 and (key[0], key[1], 0) in per]
    if pairs:
        print("\nServer CPU µs per delivery, filtered against everyone-gets-all at the same publish rate and at the "
              "same deliveries per second (rate / K); below 1× the filtered run costs less per delivery.\n")
        print("| server | transport | filter | deliveries/s: filtered / all / all, rate / K | "
              "server CPU cores: filtered / all / all, rate / K | µs per delivery: filtered / all / all, rate / K | "
              "ratio to all | ratio to all, rate / K |")
        print("|---|---|---|---|---|---|---|---|")
        for (server, transport, k), all_runs, slow_runs, f_runs in pairs:
            legs = [f_runs, all_runs, slow_runs or []]
            d = [med([r["deliveries_per_sec"] for r in runs]) for runs in legs]
            c = [med([r["server_cpu"] for r in runs]) for runs in legs]
            u = [med([cpu_us_per_delivery(r) for r in runs]) for runs in legs]
            print(f'| {server} | {transport} | 1 of {k:g} | {" / ".join(num(x, "{:.0f}") for x in d)} | '
                  f'{" / ".join(num(x, "{:.3f}") for x in c)} | {" / ".join(num(x, "{:.2f}") for x in u)} | '
                  f'{ratio(u[0], u[1])} | {ratio(u[0], u[2])} |')
    print()


def filter_name(k):
    if k == 0:
        return "all"
    if k < 0:
        return f"all, rate / {-k:g}"
    return f"1 of {k:g}"


def spread_of(runs, key, fmt):
    return spread([r[key] for r in runs], fmt)


def main():
    groups = load(sys.argv[1])
    idle(groups)
    fan = fanout(groups)
    versus(fan)
    burst(groups)
    hold(groups)
    storm(groups)
    filtered(groups)


if __name__ == "__main__":
    main()
