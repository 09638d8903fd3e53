#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A docker token server for tests (Debian ships none).

GET /token?service=S&scope=repository:NAME:ACTIONS[&scope=...] answers
{"token": JWT, "access_token": JWT, "expires_in": 300, "issued_at": ...}.
The JWT is RS256, signed with `openssl dgst -sha256 -sign KEY`, and carries
x5c = [CERT as DER], so a registry with auth.token.rootcertbundle = CERT
accepts it.  Basic credentials USER:PASS get every action they ask for;
anonymous requests get a token granting nothing; wrong credentials get 401.

Listens on 127.0.0.1 only, on a port the kernel picks; the port is written
to --port-file once the socket is bound.  Requests are logged to --log
without any secret.
"""
import argparse
import base64
import binascii
import datetime
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der_b64(path: str) -> str:
    with open(path) as f:
        pem = f.read()
    body = pem.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----", 1)[0]
    return "".join(body.split())


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_handler(opts, x5c, log):
    lock = threading.Lock()

    def note(line):
        with lock:
            log.write(line + "\n")
            log.flush()

    def sign(claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [x5c]}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", opts.key],
                             input=signing_input.encode(), capture_output=True, check=True).stdout
        return signing_input + "." + b64url(sig)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, obj, extra=None):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def user(self):
            """(user or '' for anonymous, ok)"""
            h = self.headers.get("Authorization")
            if not h:
                return "", True
            scheme, _, value = h.partition(" ")
            if scheme.lower() != "basic":
                return "", False
            try:
                u, _, p = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return "", False
            return u, (u == opts.user and p == opts.password)

        def do_GET(self):
            url = urlsplit(self.path)
            q = parse_qs(url.query)
            if url.path != "/token":
                self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such path"}]})
                note(f"GET {url.path} -> 404")
                return
            user, ok = self.user()
            scopes = q.get("scope", [])
            if not ok:
                note(f"GET /token scope={scopes} user={user!r} -> 401 (bad credentials)")
                self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                           {"WWW-Authenticate": 'Basic realm="kmod-test-token"'})
                return
            access = []
            if user:
                for s in scopes:
                    for one in s.split(" "):
                        typ, _, rest = one.partition(":")
                        name, _, actions = rest.rpartition(":")
                        if typ and name and actions:
                            access.append({"type": typ, "name": name,
                                           "actions": [a for a in actions.split(",") if a]})
            now = int(time.time())
            claims = {
                "iss": opts.issuer,
                "sub": user,
                "aud": q.get("service", [opts.service])[0],
                "exp": now + 300,
                "nbf": now - 10,
                "iat": now,
                "jti": uuid.uuid4().hex,
                "access": access,
            }
            token = sign(claims)
            answer = {"expires_in": 300,
                      "issued_at": datetime.datetime.now(datetime.timezone.utc).isoformat()}
            if opts.field in ("token", "both"):
                answer["token"] = token
            if opts.field in ("access_token", "both"):
                answer["access_token"] = token
            note(f"GET /token scope={scopes} user={user!r} -> 200 access={access}")
            self.reply(200, answer)

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--issuer", default="kmod-test-issuer")
    ap.add_argument("--service", default="kmod-test-registry")
    ap.add_argument("--user", default="testuser")
    ap.add_argument("--password", default="testpass")
    ap.add_argument("--field", choices=["token", "access_token", "both"], default="both")
    ap.add_argument("--log", default="/dev/null")
    opts = ap.parse_args()

    log = open(opts.log, "a")
    srv = Server(("127.0.0.1", 0), make_handler(opts, cert_der_b64(opts.cert), log))
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
