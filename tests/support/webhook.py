#!/usr/bin/env python3
"""A validating admission webhook for the chaos suite's test g (tests/chaos.rs).

It allows every request, after behaving as the file MODE_FILE says at that
moment (read at each request): `ok`, `slow S` (answer after S seconds),
`5xx` (HTTP 500), `hang S` (answer after S seconds: set S above the
webhook's timeoutSeconds and the API server gives up first).

Usage: webhook.py PORT_FILE MODE_FILE CERT KEY. It listens on a free port of
127.0.0.1 with TLS and writes the port into PORT_FILE.
"""
import http.server
import json
import os
import ssl
import sys
import time

port_file, mode_file, cert, key = sys.argv[1:5]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            mode = open(mode_file).read().split()
        except OSError:
            mode = ["ok"]
        if mode and mode[0] in ("slow", "hang"):
            time.sleep(float(mode[1]))
        if mode and mode[0] == "5xx":
            body = b"webhook broken on purpose"
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = json.dumps({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": review["request"]["uid"], "allowed": True},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except BrokenPipeError:
            pass  # the API server gave up (hang)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the API server hung up (a timeout): expected, not news


server = Server(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
