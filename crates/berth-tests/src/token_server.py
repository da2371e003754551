# A token server for a registry with bearer-token auth (distribution's `auth: token`), for tests.
# GET /token?service=…&scope=repository:<name>:<actions> with the right Basic credentials gets a
# JWT granting those actions; wrong credentials get 401; no credentials get a token granting
# nothing (the registry then refuses, as Docker Hub does for private repositories).
# The JWT is RS256, signed by `openssl dgst` with the key whose certificate the registry trusts;
# its `kid` is the libtrust key id of that key, which is how distribution 2.8 finds it.
# Usage: token_server.py <port> <key.pem> <pubkey.der> <user> <password> <issuer> <log>

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

port, key, pub_der, user, password, issuer, log_path = sys.argv[1:8]


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def libtrust_key_id(der):
    # 240 bits of the SHA-256 of the DER public key, base32, in groups of four.
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


KID = libtrust_key_id(open(pub_der, "rb").read())
EXPECTED = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def grants(scopes):
    out = []
    for scope in scopes:
        for one in scope.split(" "):
            typ, _, rest = one.partition(":")
            name, _, actions = rest.rpartition(":")
            if typ and name:
                out.append({"type": typ, "name": name, "actions": [a for a in actions.split(",") if a]})
    return out


def sign(header, claims):
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input.encode(),
                         capture_output=True, check=True).stdout
    return signing_input + "." + b64(sig)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        with open(log_path, "a") as log:
            log.write(json.dumps({"path": url.path, "scope": q.get("scope", []), "auth": bool(auth)}) + "\n")
        if url.path != "/token":
            self.send_error(404)
            return
        if auth and auth != EXPECTED:
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"details":"incorrect username or password"}')
            return
        now = int(time.time())
        claims = {
            "iss": issuer,
            "sub": user if auth else "",
            "aud": q.get("service", [""])[0],
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": os.urandom(8).hex(),
            "access": grants(q.get("scope", [])) if auth else [],
        }
        token = sign({"typ": "JWT", "alg": "RS256", "kid": KID}, claims)
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
