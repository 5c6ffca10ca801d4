"""Stand-ins for Jaeger and Grafana in the compose stack test.

jaeger:  receives OTLP/HTTP on 4318 (POST /v1/traces, protobuf or JSON) and answers Jaeger's
         query API GET /api/services on 16686 with the service names of the spans received.
grafana: answers GET /api/health on 3000 with 200 while the provisioned datasource, dashboard
         provider and dashboard files are present and the dashboard is JSON; 503 naming what is
         wrong otherwise.
"""
import glob
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

services = set()
spans = 0
lock = threading.Lock()


def service_names(body):
    """service.name values in an OTLP ExportTraceServiceRequest (protobuf or JSON)."""
    found = set()
    key = b"service.name"
    start = 0
    while True:
        i = body.find(key, start)
        if i < 0:
            break
        start = i + len(key)
        # protobuf: KeyValue.value (field 2, 0x12) len, AnyValue.string_value (field 1, 0x0a) len
        rest = body[start:start + 128]
        if len(rest) > 4 and rest[0] == 0x12 and rest[2] == 0x0A:
            n = rest[3]
            found.add(rest[4:4 + n].decode("utf-8", "replace"))
    for m in re.finditer(rb'"service\.name"\s*,\s*"value"\s*:\s*\{\s*"stringValue"\s*:\s*"([^"]+)"', body):
        found.add(m.group(1).decode())
    return found


class Jaeger(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body, kind="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        global spans
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path != "/v1/traces":
            return self.reply(404, "{}")
        with lock:
            services.update(service_names(body))
            spans += 1
        self.reply(200, "{}")

    def do_GET(self):
        if self.path.startswith("/api/services"):
            with lock:
                names = sorted(services)
            return self.reply(200, json.dumps({"data": names, "total": len(names), "exports": spans}))
        self.reply(404, "{}")


class Grafana(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path != "/api/health":
            self.send_response(404)
            self.end_headers()
            return
        problems = []
        for pattern in ["/etc/grafana/provisioning/datasources/*.yml",
                        "/etc/grafana/provisioning/dashboards/*.yml"]:
            if not glob.glob(pattern):
                problems.append("nothing matches " + pattern)
        dashboards = glob.glob("/var/lib/grafana/dashboards/*.json")
        if not dashboards:
            problems.append("no dashboard in /var/lib/grafana/dashboards")
        for path in dashboards:
            try:
                with open(path) as f:
                    if not json.load(f).get("panels"):
                        problems.append(path + " has no panels")
            except (OSError, ValueError) as e:
                problems.append(f"{path}: {e}")
        body = json.dumps({"database": "ok" if not problems else "failing", "problems": problems}).encode()
        self.send_response(200 if not problems else 503)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(port, handler):
    ThreadingHTTPServer(("0.0.0.0", port), handler).serve_forever()


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role == "jaeger":
        threading.Thread(target=serve, args=(4318, Jaeger), daemon=True).start()
        serve(16686, Jaeger)
    elif role == "grafana":
        serve(3000, Grafana)
    else:
        sys.exit("usage: standin.py jaeger|grafana")
