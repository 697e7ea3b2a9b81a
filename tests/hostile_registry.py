#!/usr/bin/env python3
"""A registry that misbehaves on purpose, for baton's tests.

    hostile_registry.py MODE LAYOUT LOG

Listens on a free loopback port and prints it on stdout. LAYOUT is a baton layout store of one
bundle (its `index.json` and `blobs/sha256/…`): what an honest registry would serve. LOG gets
one line per request. MODE is how it misbehaves:

    silent          accepts every connection, reads the request, never answers
    drip            answers at once, then sends its body one byte every 300 ms
    huge-manifest   serves an endless manifest, as fast as it can
    oversized-blob  serves the layer with bytes beyond its descriptor's size
    retry-after     answers the first manifest request 429 with `Retry-After: 2`, then honestly
    read-only       answers reads honestly and refuses every write (403 DENIED), as a registry
                    does to a machine that may pull but not push
    flaky-head      takes pushes into LAYOUT (blob uploads, manifests by digest or tag), answers
                    the first HEAD of each blob 500, as Docker's registry does to a blob another
                    upload is moving into place, then honestly; answers the first manifest PUT
                    400 MANIFEST_BLOB_UNKNOWN, as it does while such an upload finishes; and
                    answers a manifest's PUT without a `Location`, as ECR does
"""

import hashlib
import http.server
import os
import sys
import threading
import time
import uuid

MODE, LAYOUT, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
log_lock = threading.Lock()
manifest_requests = 0
heads_seen = set()
uploads = {}
tags = {}
media_types = {}


def blob_path(digest):
    algorithm, _, hex_digest = digest.partition(":")
    path = os.path.join(LAYOUT, "blobs", algorithm, hex_digest)
    return path if algorithm == "sha256" and hex_digest.isalnum() and os.path.isfile(path) else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        with log_lock, open(LOG, "a") as log:
            what = getattr(self, "command", None) or (format % args)
            log.write(f"{time.time():.3f} {what} {getattr(self, 'path', '-')}\n")

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_one_request(self):
        if MODE == "silent":
            self.raw_requestline = self.rfile.readline(65537)
            self.log_message("silent")
            time.sleep(3600)
            return
        super().handle_one_request()

    def refuse_write(self):
        self.body()
        self.answer(403, b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
                    [("Content-Type", "application/json")])

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def store(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        os.makedirs(os.path.join(LAYOUT, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(LAYOUT, "blobs", "sha256", digest[7:]), "wb") as f:
            f.write(data)
        return digest

    def take_write(self):
        # /v2/<repository…>/blobs/uploads/[<id>][?digest=…] or /v2/<repository…>/manifests/<ref>
        path, _, query = self.path.partition("?")
        parts = path.split("/")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if "uploads" in parts:
            repository = "/".join(parts[2:parts.index("blobs")])
            if self.command == "POST":
                upload = str(uuid.uuid4())
                uploads[upload] = self.body()
                location = f"/v2/{repository}/blobs/uploads/{upload}"
                return self.answer(202, headers=[("Location", location), ("Range", "0-0"),
                                                 ("Docker-Upload-UUID", upload)])
            upload = parts[-1]
            uploads[upload] = uploads.get(upload, b"") + self.body()
            if self.command == "PATCH":
                location = f"/v2/{repository}/blobs/uploads/{upload}"
                end = max(len(uploads[upload]) - 1, 0)
                return self.answer(202, headers=[("Location", location), ("Range", f"0-{end}")])
            digest = self.store(uploads.pop(upload))
            if digest != params.get("digest", "").replace("%3A", ":"):
                return self.answer(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
            return self.answer(201, headers=[("Location", f"/v2/{repository}/blobs/{digest}"),
                                             ("Docker-Content-Digest", digest)])
        if parts[-2] == "manifests" and self.command == "PUT":
            global manifest_requests
            data = self.body()
            if manifest_requests == 0:
                manifest_requests += 1
                self.log_message("blob-unknown")
                return self.answer(400, b'{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}')
            digest = self.store(data)
            media_types[digest] = self.headers.get("Content-Type", MANIFEST_TYPE)
            if not parts[-1].startswith("sha256:"):
                tags["/".join(parts[2:-2]) + ":" + parts[-1]] = digest
            return self.answer(201, headers=[("Docker-Content-Digest", digest)])
        return self.answer(404)

    def write(self):
        if MODE == "flaky-head":
            return self.take_write()
        return self.refuse_write()

    do_POST = do_PUT = do_PATCH = do_DELETE = write

    def do_HEAD(self):
        parts = self.path.split("/")
        if MODE == "flaky-head" and len(parts) >= 5 and parts[-2] == "blobs" and parts[-1] not in heads_seen:
            heads_seen.add(parts[-1])
            self.log_message("flaky")
            return self.answer(500, b'{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}')
        self.do_GET()

    def do_GET(self):
        global manifest_requests
        if MODE == "drip":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            for _ in range(100000):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.3)
            return
        if self.path == "/v2/" or self.path == "/v2":
            return self.answer(200, b"{}", [("Content-Type", "application/json")])
        parts = self.path.split("/")
        # /v2/<repository…>/manifests/<digest> or /v2/<repository…>/blobs/<digest>
        if len(parts) < 5 or parts[1] != "v2":
            return self.answer(404)
        kind, digest = parts[-2], parts[-1]
        if kind == "manifests" and not digest.startswith("sha256:"):
            digest = tags.get("/".join(parts[2:-2]) + ":" + digest, "none:")
        path = blob_path(digest)
        if kind == "manifests":
            if MODE == "retry-after" and self.command == "GET" and manifest_requests == 0:
                manifest_requests += 1
                return self.answer(429, b'{"errors":[{"code":"TOOMANYREQUESTS"}]}', [("Retry-After", "2")])
            if MODE == "huge-manifest" and self.command == "GET":
                self.send_response(200)
                self.send_header("Content-Type", MANIFEST_TYPE)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"{" * 65536
                frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
                try:
                    for _ in range(16384):  # 1 GiB at most
                        self.wfile.write(frame)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return
            if path is None:
                return self.answer(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            with open(path, "rb") as f:
                body = f.read()
            media_type = media_types.get(digest, MANIFEST_TYPE)
            return self.answer(200, body, [("Content-Type", media_type), ("Docker-Content-Digest", digest)])
        if kind == "blobs":
            if path is None:
                return self.answer(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
            with open(path, "rb") as f:
                body = f.read()
            if MODE == "oversized-blob" and digest == os.environ.get("HOSTILE_DIGEST"):
                body += b"\0" * 4096
            return self.answer(200, body, [("Content-Type", "application/octet-stream")])
        return self.answer(404)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
