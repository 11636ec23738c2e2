"""A local HTTP file server for the remote-read tests: honours `Range: bytes=a-b` (or ignores it, to play a server
without range support), counts the body bytes it sends, and can stand in for the Hugging Face Hub endpoints that
huggingface_hub calls (model info, resolve/<rev>/<file> with HEAD and Range, private repos behind a token), and
answer chosen paths with a 302 (redirect chains for the fetch guard).
Bound to 127.0.0.1 on a free port; started and stopped by the test fixture."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class ServerState:
    """What the server serves and what it has sent."""

    root: Path
    ranges: bool = True
    body_bytes_sent: int = 0
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, path, Range)
    auth_headers: list[str | None] = field(default_factory=list)
    private_repos: dict[str, str] = field(default_factory=dict)  # repo id -> token it needs
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location of a 302
    sha: str = field(default_factory=lambda: uuid.uuid4().hex + uuid.uuid4().hex[:8])
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    state: ServerState  # set on the subclass per server

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send_file(self, path: Path, head: bool) -> None:
        size = path.stat().st_size
        rng = self.headers.get("Range")
        m = _RANGE.match(rng or "") if self.state.ranges else None
        start, end = 0, size - 1
        if m:
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(206 if m else 200)
        etag = hashlib.sha1(f"{path}{size}".encode()).hexdigest()
        self.send_header("ETag", f'"{etag}"')
        self.send_header("X-Repo-Commit", self.state.sha)
        self.send_header("Content-Length", str(end - start + 1))
        if self.state.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if m:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if head:
            return
        with path.open("rb") as fh:
            fh.seek(start)
            left = end - start + 1
            try:
                while left > 0:
                    chunk = fh.read(min(left, 65536))
                    self.wfile.write(chunk)
                    with self.state.lock:
                        self.state.body_bytes_sent += len(chunk)
                    left -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client closed early (as it should on a 200 for a range request)

    def _json(self, obj: object, status: int = 200, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self, repo: str) -> bool:
        need = self.state.private_repos.get(repo)
        return need is None or self.headers.get("Authorization") == f"Bearer {need}"

    def _route(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        with self.state.lock:
            self.state.requests.append((self.command, path, self.headers.get("Range")))
            self.state.auth_headers.append(self.headers.get("Authorization"))
        if path in self.state.redirects:
            self.send_response(302)
            self.send_header("Location", self.state.redirects[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        m = re.match(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?$", path)
        if m:
            return self._model_info(m.group(1))
        m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        target = self.state.root / (m.group(1) + "/" + m.group(3)) if m else self.state.root / path.lstrip("/")
        if m and not self._authorised(m.group(1)):
            return self._json({"error": "Invalid credentials"}, 401, {"X-Error-Code": "RepoNotFound"})
        if not target.is_file() or ".." in path:
            return self._json({"error": "not found"}, 404, {"X-Error-Code": "EntryNotFound"} if m else None)
        self._send_file(target, head)

    def _model_info(self, repo: str) -> None:
        repo_dir = self.state.root / repo
        if not repo_dir.is_dir() or not self._authorised(repo):
            return self._json({"error": "Repository not found"}, 401, {"X-Error-Code": "RepoNotFound"})
        files = sorted(str(p.relative_to(repo_dir)) for p in repo_dir.rglob("*") if p.is_file())
        self._json({"id": repo, "modelId": repo, "sha": self.state.sha, "siblings": [{"rfilename": f} for f in files]})

    def do_GET(self) -> None:
        self._route(head=False)

    def do_HEAD(self) -> None:
        self._route(head=True)


class FileServer:
    """ThreadingHTTPServer on 127.0.0.1:<free port> serving `root`."""

    def __init__(self, root: Path, *, ranges: bool = True) -> None:
        self.state = ServerState(root=root, ranges=ranges)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
