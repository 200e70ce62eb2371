#!/usr/bin/env python3
"""A fake Adobe Target for .ci/check-systemd, on 127.0.0.1 at a free port.

It serves the two APIs the daemon calls (src/adobe/request.rs): the single profile update API,
GET or POST /m2/{client}/profile/update, answered with Target's success body, and the profile
fetch API, GET /rest/v1/profiles/{id} or /rest/v1/profiles/thirdPartyId/{id}, answered with a
profile for every visitor. How it answers comes from MODE_FILE, read at each request:

    ok        answers at once
    refuse    answers 401, as Target does to a token it refuses
    slow N    answers as "ok" after N seconds

Each request is logged as one JSON line in LOG_FILE (method, path, query, body, authorization,
status, when), so the script checks what reached Target. The bound port is written to PORT_FILE.

Usage: fake_target.py PORT_FILE MODE_FILE LOG_FILE
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

SUCCESS = "<success>true</success><message>Request successfully submitted</message>"
UPDATE_SUFFIX = "/profile/update"
PROFILES = "/rest/v1/profiles/"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_lock = threading.Lock()

    def do_GET(self):
        self.answer(b"")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.answer(self.rfile.read(length))

    def answer(self, body):
        mode = read_mode()
        if mode[0] == "slow":
            time.sleep(float(mode[1]))
        url = urlsplit(self.path)
        if mode[0] == "refuse":
            status, text = 401, ""
        elif url.path.startswith("/m2/") and url.path.endswith(UPDATE_SUFFIX):
            status, text = 200, SUCCESS
        elif url.path.startswith(PROFILES):
            visitor = unquote(url.path[len(PROFILES):].removeprefix("thirdPartyId/"))
            status, text = 200, json.dumps({"tntId": visitor, "profile": {}})
        else:
            status, text = 404, "no such API"
        self.log_request_seen(url, body, status)
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_request_seen(self, url, body, status):
        line = json.dumps(
            {
                "method": self.command,
                "path": url.path,
                "query": url.query,
                "body": body.decode("utf-8", "replace"),
                "authorization": self.headers.get("Authorization"),
                "status": status,
                "at": time.time(),
            }
        )
        with self.log_lock, open(LOG_FILE, "a", encoding="utf-8") as log:
            log.write(line + "\n")

    def log_message(self, format, *args):
        pass  # the JSON log above is the record


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A daemon stopped or killed mid-request hangs up: no fault of the fake's, no traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def read_mode():
    try:
        with open(MODE_FILE, encoding="utf-8") as f:
            words = f.read().split()
    except OSError:
        words = []
    return words if words else ["ok"]


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    PORT_FILE, MODE_FILE, LOG_FILE = sys.argv[1:]
    server = Server(("127.0.0.1", 0), Handler)
    with open(PORT_FILE + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    # Renamed into place, so the script never reads a half-written port.
    os.replace(PORT_FILE + ".tmp", PORT_FILE)
    server.serve_forever()
