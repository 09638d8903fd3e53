#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A fault-injecting HTTP proxy in front of a plain-HTTP registry, for tests.

Requests are forwarded to --upstream with their own Host header, so the
registry's absolute Location URLs point back at the proxy.  Rules match the
regular expression against "METHOD PATH?QUERY", each with its own counter:

  --fail REGEX:COUNT:STATUS[:RETRY_AFTER]
        answer the first COUNT matching requests with STATUS (a JSON error
        body, and Retry-After if given) without forwarding them
  --drop REGEX[:COUNT]
        forward the first COUNT (default 1) matching GETs, then send the
        answer's headers and only half of its body, and close the connection
  --corrupt REGEX[:COUNT]
        forward the first COUNT (default 1) matching GETs and flip the last
        byte of the answer's body (headers untouched)
  --redirect REGEX[:COUNT]
        answer the first COUNT (default 1) matching requests with a 307 to
        the same URL plus "kmi_redirected=1" in its query
  --oversize REGEX[:COUNT]
        forward the first COUNT (default 1) matching GETs and pad the answer's
        body with 5 MiB of spaces
  --relative-location
        rewrite absolute Location headers to paths ("/v2/...?...")

Listens on 127.0.0.1 only, on a port the kernel picks, written to
--port-file once bound.  Every request is logged to --log as
"METHOD PATH -> STATUS [injected|dropped|corrupted|oversized|redirect]".
"""
import argparse
import http.client
import json
import os
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
       "trailers", "transfer-encoding", "upgrade", "proxy-connection"}


class Rule:
    def __init__(self, text, kind):
        parts = text.split(":")
        self.kind = kind
        self.retry_after = None
        if kind == "fail":
            if len(parts) < 3:
                raise SystemExit(f"bad --fail {text!r}: want REGEX:COUNT:STATUS[:RETRY_AFTER]")
            # the regex may itself hold ':' - take the numbers from the right
            if len(parts) >= 4 and parts[-1].isdigit() and parts[-2].isdigit() and parts[-3].isdigit():
                self.retry_after = parts[-1]
                parts = parts[:-1]
            self.status = int(parts[-1])
            self.left = int(parts[-2])
            self.regex = re.compile(":".join(parts[:-2]))
        else:
            if len(parts) >= 2 and parts[-1].isdigit():
                self.left = int(parts[-1])
                self.regex = re.compile(":".join(parts[:-1]))
            else:
                self.left = 1
                self.regex = re.compile(text)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_handler(opts, rules, log):
    lock = threading.Lock()
    host, _, port = opts.upstream.rpartition(":")

    def note(line):
        with lock:
            log.write(line + "\n")
            log.flush()

    def take(kind, line):
        with lock:
            for r in rules:
                if r.kind == kind and r.left > 0 and r.regex.search(line):
                    r.left -= 1
                    return r
        return None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def handle_any(self):
            line = f"{self.command} {self.path}"
            body = self.read_body()
            rule = take("redirect", line)
            if rule is not None:
                sep = "&" if "?" in self.path else "?"
                loc = f"http://{self.headers.get('Host')}{self.path}{sep}kmi_redirected=1"
                self.send_response(307)
                self.send_header("Location", loc)
                self.send_header("Content-Length", "0")
                self.end_headers()
                note(f"{line} -> 307 redirect")
                return
            rule = take("fail", line)
            if rule is not None:
                err = json.dumps({"errors": [{"code": "UNAVAILABLE",
                                              "message": f"injected {rule.status}"}]}).encode()
                self.send_response(rule.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(err)))
                if rule.retry_after is not None:
                    self.send_header("Retry-After", rule.retry_after)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(err)
                note(f"{line} -> {rule.status} injected")
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            if body or self.command in ("PUT", "PATCH", "POST"):
                headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
                headers["Content-Length"] = str(len(body))
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            finally:
                conn.close()
            drop = take("drop", line) if self.command == "GET" and len(data) > 1 else None
            corrupt = take("corrupt", line) if self.command == "GET" and data else None
            if corrupt is not None:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            oversize = take("oversize", line) if self.command == "GET" else None
            if oversize is not None:
                data += b" " * (5 << 20)
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                lk = k.lower()
                if lk in HOP or lk in ("date", "server"):
                    continue
                if lk == "content-length" and self.command != "HEAD":
                    continue
                if lk == "location" and opts.relative_location:
                    v = re.sub(r"^https?://[^/]+", "", v)
                self.send_header(k, v)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if drop is not None:
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                note(f"{line} -> {resp.status} dropped after {len(data) // 2} of {len(data)} bytes")
                return
            if self.command != "HEAD":
                self.wfile.write(data)
            note(f"{line} -> {resp.status}" + (" corrupted" if corrupt else "") +
                 (" oversized" if oversize else ""))

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT of a plain-HTTP registry")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", default="/dev/null")
    ap.add_argument("--fail", action="append", default=[])
    ap.add_argument("--drop", action="append", default=[])
    ap.add_argument("--corrupt", action="append", default=[])
    ap.add_argument("--redirect", action="append", default=[])
    ap.add_argument("--oversize", action="append", default=[])
    ap.add_argument("--relative-location", action="store_true")
    opts = ap.parse_args()
    rules = ([Rule(t, "fail") for t in opts.fail] + [Rule(t, "drop") for t in opts.drop] +
             [Rule(t, "corrupt") for t in opts.corrupt] + [Rule(t, "redirect") for t in opts.redirect] +
             [Rule(t, "oversize") for t in opts.oversize])

    log = open(opts.log, "a")
    srv = Server(("127.0.0.1", 0), make_handler(opts, rules, log))
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{srv.server_address[1]}\n")
    os.rename(tmp, opts.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
