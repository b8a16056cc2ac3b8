"""The local server behind `netspec serve`: the standard library's http.server with two fixed routes.

GET / is the page and GET /state the spec's state as JSON (only the version while the page is up to date).
Nothing else is served: no path reaches the file system, and the spec is the only file read. A request whose
Host header names another machine is refused (a web page elsewhere cannot read the spec through DNS tricks).
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from .page import page

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class _Handler(BaseHTTPRequestHandler):
    server_version = "netspec"
    sys_version = ""
    watcher = None               # set per server (see make_server)
    hosts: frozenset | None = None   # the Host headers accepted (None: any, for an explicit --host)

    def log_message(self, format, *args):    # quiet: the terminal shows the URL and faults only
        pass

    def do_HEAD(self):
        self.do_GET(body=False)

    def do_GET(self, body: bool = True):
        if self.hosts is not None and self.headers.get("Host", "") not in self.hosts:
            return self._send(403, "text/plain", b"this server answers requests for 127.0.0.1 only\n", body)
        path, _, query = self.path.partition("?")
        if path in ("/", "/index.html"):
            data = page(self.watcher.current(), live=True).encode("utf-8")
            return self._send(200, "text/html; charset=utf-8", data, body)
        if path == "/state":
            state = self.watcher.current()
            have = parse_qs(query).get("v", [""])[0]
            reply = {"version": state["version"]} if have == str(state["version"]) else state
            return self._send(200, "application/json", json.dumps(reply).encode("utf-8"), body)
        if path == "/favicon.ico":
            return self._send(204, "text/plain", b"", body)
        return self._send(404, "text/plain", b"not found\n", body)

    def _refuse(self):
        self._send(405, "text/plain", b"only GET\n", True)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def _send(self, code: int, kind: str, data: bytes, body: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if body:
            self.wfile.write(data)


def make_server(watcher, host: str, port: int) -> ThreadingHTTPServer:
    """A server for `watcher` bound to host:port (port 0: a free one); call serve_forever() to run it."""
    class Handler(_Handler):
        pass

    server_class = type("Server", (ThreadingHTTPServer,), {"daemon_threads": True,
                                                          "address_family": _family(host)})
    server = server_class((host, port), Handler)
    Handler.watcher = watcher
    real_port = server.server_address[1]
    names = LOOPBACK if host in LOOPBACK else None
    Handler.hosts = None if names is None else frozenset(
        [f"{name}:{real_port}" for name in names] + [f"[::1]:{real_port}", "[::1]", *names])
    return server


def _family(host: str):
    import socket
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def serve_in_thread(server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="netspec-serve", daemon=True)
    thread.start()
    return thread
