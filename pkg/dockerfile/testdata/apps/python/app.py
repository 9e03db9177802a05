"""Serves a greeting over HTTP on $PORT (default 8000)."""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def greet(path):
    name = parse_qs(urlparse(path).query).get("name", ["world"])[0]
    return f"hello, {name}\n"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = greet(self.path).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    ThreadingHTTPServer(("", int(os.environ.get("PORT", "8000"))), Handler).serve_forever()
