#!/usr/bin/env python3
"""Follow an ADIC edge's event stream over SSE and resume by cursor after any stop.

    python3 adic_tail.py http://127.0.0.1:9121
    python3 adic_tail.py --events message.new,finality.update --cursor-file my.cursor \\
        http://edge-1:9121 http://edge-2:9121

Prints one line per event, `<cursor> <kind> <data JSON>`, and writes the cursor of each event to
the cursor file once the line is out. On start it resumes after the cursor in that file (the
first run starts with live events). Connection problems are retried with backoff, moving to the
next URL each time; stream notices (gap, reset) and connection changes go to stderr.

Needs only `requests` (Debian: `apt-get install python3-requests`, else `pip install requests`).
"""

import argparse
import itertools
import json
import os
import random
import signal
import sys
import time

import requests

CONNECT_TIMEOUT = 5
# Edges send a heartbeat after 15 s without an event: 45 s of silence means a dead connection.
READ_TIMEOUT = 45
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
# A connection that lasted this long was healthy: the next failure starts the backoff afresh.
HEALTHY_AFTER = 30.0


class Stop(Exception):
    """Ctrl-C or SIGTERM."""


class Refused(Exception):
    """The edge refused the request in a way that retrying unchanged will not fix."""


# A stop request that arrives while an event is being printed and saved waits for both, so a
# clean stop never repeats or loses an event. (A hard kill between the two repeats that one
# event on the next start.)
busy = False
stop_requested = False


def on_signal(signum, frame):
    global stop_requested
    stop_requested = True
    if not busy:
        raise Stop


def log(message):
    print(message, file=sys.stderr, flush=True)


def load_cursor(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def save_cursor(path, cursor):
    # Write then rename: a crash leaves the old cursor or the new one, never half a line.
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(cursor + "\n")
    os.replace(tmp, path)


def sse_frames(response):
    """Yields each SSE frame of a streaming response as a dict: event, id, data (all optional)."""
    buffer = b""
    frame = {}
    # chunk_size=None hands over data as it arrives instead of waiting for a full block.
    for chunk in response.iter_content(chunk_size=None):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8")
            if not line:
                if frame:
                    yield frame
                frame = {}
                continue
            if line.startswith(":"):
                continue  # a comment: the edge's heartbeat
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                frame["data"] = frame["data"] + "\n" + value if "data" in frame else value
            elif field in ("event", "id", "retry"):
                frame[field] = value


def follow(url, params, cursor_file):
    """One connection: prints events until the edge closes the stream or it fails."""
    global busy
    cursor = load_cursor(cursor_file)
    headers = {"Accept": "text/event-stream"}
    if cursor:
        headers["Last-Event-ID"] = cursor
    with requests.get(
        url.rstrip("/") + "/v1/sse/events",
        params=params,
        headers=headers,
        stream=True,
        timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
    ) as response:
        if response.status_code == 400:
            # A bad filter, or a cursor beyond the end of the stream (not this stream's file?).
            raise Refused(f"{url}: {response.text.strip()}")
        response.raise_for_status()
        log(f"connected to {url}" + (f", resuming after {cursor}" if cursor else ", live"))
        for frame in sse_frames(response):
            kind, cursor = frame.get("event"), frame.get("id")
            if kind == "gap":
                gap = json.loads(frame["data"])
                log(f"gap: events after {gap['requested']} are no longer kept; "
                    f"continuing at {gap['first_available']}")
            elif kind == "reset":
                reset = json.loads(frame["data"])
                log(f"reset: {reset['reason']}; continuing on the new stream")
                save_cursor(cursor_file, reset["current"])
            elif "data" in frame:
                event = json.loads(frame["data"])
                busy = True
                # Snapshot values sent on connect carry no id: printed, never saved.
                # One write per line: a process killed mid-print never leaves half a line.
                data = json.dumps(event.get("data"), separators=(",", ":"))
                sys.stdout.write(f"{cursor or '-'} {kind or event.get('type')} {data}\n")
                sys.stdout.flush()
                if cursor:
                    save_cursor(cursor_file, cursor)
                busy = False
                if stop_requested:
                    raise Stop
            elif cursor:
                # A progress marker: the stream moved past events the filter skips.
                save_cursor(cursor_file, cursor)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("edges", nargs="+", help="edge base URLs, e.g. http://127.0.0.1:9121")
    parser.add_argument("--events", help="comma-separated kinds, e.g. message.new,finality.update")
    parser.add_argument("--priority", choices=["high", "medium", "low", "all"])
    parser.add_argument("--cursor-file", default="adic_tail.cursor",
                        help="where the last cursor is kept (default: %(default)s)")
    args = parser.parse_args()
    params = {k: v for k, v in (("events", args.events), ("priority", args.priority)) if v}

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    failures = 0
    try:
        for attempt in itertools.count():
            url = args.edges[attempt % len(args.edges)]
            started = time.monotonic()
            try:
                follow(url, params, args.cursor_file)
                log(f"{url} closed the stream")
            except requests.RequestException as e:
                log(f"{url}: {e}")
            if time.monotonic() - started > HEALTHY_AFTER:
                failures = 0
            # Full jitter spreads the reconnects of many clients after an edge goes away.
            delay = random.uniform(0, min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** failures))
            failures += 1
            log(f"reconnecting in {delay:.1f} s")
            time.sleep(delay)
    except Stop:
        log(f"stopped; last cursor {load_cursor(args.cursor_file) or '(none)'} "
            f"in {args.cursor_file}")
    except Refused as e:
        sys.exit(f"refused, not retrying: {e}")


if __name__ == "__main__":
    main()
