"""A small Hugging Face Hub on 127.0.0.1 for tests: enough of the API for the real huggingface_hub client.

It speaks create_repo, create_branch, preupload (every file "regular": no LFS, no Xet), the NDJSON
commit endpoint, repo info with siblings, the recursive tree listing, validate-yaml, and
`resolve/<revision>/<path>` downloads (GET and HEAD) with the ETag and X-Repo-Commit headers the
client's cache relies on. Errors carry the X-Error-Code header the client maps to its exceptions.
Repos live in memory; every commit gets a sha, so revisions can be pinned.

    with HubServer() as hub:
        os.environ["HF_ENDPOINT"] = hub.url   # before huggingface_hub is imported

Two broken Hubs for the failure paths: `SilentServer` accepts connections and never answers (a hung
server or a dead proxy), `StatusServer` answers each request with the HTTP status its repo name asks for and no Hub
error code (a failing server, or HF_ENDPOINT pointing at something that is not a Hub).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit


def git_blob_sha(content: bytes) -> str:
    """The git object id of a file, which the client compares with its own to skip unchanged files."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Repo:
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit sha
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> {path: content}

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision in self.commits else None

    def commit(self, branch: str, files: dict[str, bytes], message: str) -> str:
        parent = self.branches.get(branch, "")
        sha = hashlib.sha1(f"{parent}\n{message}\n{len(self.commits)}".encode() + repr(sorted(files)).encode())
        oid = sha.hexdigest()
        self.commits[oid] = files
        self.branches[branch] = oid
        return oid


_Server = TypeVar("_Server", bound="_ServedInThread")


class _ServedInThread:
    """An HTTP server on a free port of 127.0.0.1, run in a thread; `url` is its HF_ENDPOINT. A context
    manager that starts and stops it."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self: _Server) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class HubServer(_ServedInThread):
    """The Hub's API, as much of it as huggingface_hub's calls in resreg need."""

    def __init__(self, write_tokens: set[str] | None = None) -> None:
        self.repos: dict[str, Repo] = {}
        # When set, a write (POST) needs `Authorization: Bearer <one of these>`, as the Hub's 401 says.
        self.write_tokens = write_tokens
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []  # (method, path): what the client asked, for assertions
        self.authorizations: set[str] = set()  # Authorization headers seen: proves the token went through
        super().__init__(type("Handler", (_Handler,), {"hub": self}))


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures anyway
        pass

    # --- plumbing ------------------------------------------------------------------------------
    def _segments(self) -> list[str]:
        # Split before unquoting: a revision may be `refs%2Fpr%2F1`, one segment with slashes in it.
        return [unquote(s) for s in urlsplit(self.path).path.strip("/").split("/")]

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, head: bool = False) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, code: str, message: str, head: bool = False) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}
        self._send(status, json.dumps({"error": message}).encode(), headers, head=head)

    def _repo(self, repo_id: str, head: bool = False) -> Repo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", f"Repository not found: {repo_id}", head)
        return repo

    # --- routes --------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        s = self._segments()
        self.hub.requests.append((method, self.path))
        if self.headers.get("Authorization"):
            self.hub.authorizations.add(self.headers["Authorization"])
        with self.hub.lock:
            tokens = self.hub.write_tokens
            if (
                method == "POST"
                and tokens is not None
                and self.headers.get("Authorization") not in {f"Bearer {t}" for t in tokens}
            ):
                self._body()
                return self._error(401, "Unauthorized", "Invalid username or password.")
            if method in ("GET", "HEAD") and len(s) >= 5 and s[2] == "resolve":
                return self._resolve(f"{s[0]}/{s[1]}", s[3], "/".join(s[4:]), head=method == "HEAD")
            if s[0] != "api":
                return self._error(404, "NotFound", f"no route {self.path}")
            if method == "POST" and s[1:3] == ["repos", "create"]:
                return self._create_repo(json.loads(self._body()))
            if method == "POST" and s[1:] == ["validate-yaml"]:
                self._body()
                return self._json(200, {"errors": [], "warnings": []})
            if s[1] == "models" and len(s) >= 4:
                repo_id, rest = f"{s[2]}/{s[3]}", s[4:]
                if method == "GET" and not rest:
                    return self._info(repo_id, "main")
                if method == "GET" and rest[0] == "revision" and len(rest) == 2:
                    return self._info(repo_id, rest[1])
                if method == "GET" and rest[0] == "tree" and len(rest) >= 2:
                    return self._tree(repo_id, rest[1], "/".join(rest[2:]))
                if method == "POST" and rest[0] == "preupload" and len(rest) == 2:
                    return self._preupload(repo_id, rest[1], json.loads(self._body()))
                if method == "POST" and rest[0] == "commit" and len(rest) == 2:
                    return self._commit(repo_id, rest[1], self._body())
                if method == "POST" and rest[0] == "branch" and len(rest) == 2:
                    return self._branch(repo_id, rest[1], json.loads(self._body() or b"{}"))
            self._error(404, "NotFound", f"no route {method} {self.path}")

    def _create_repo(self, payload: dict[str, Any]) -> None:
        repo_id = f"{payload.get('organization') or 'user'}/{payload['name']}"
        if repo_id in self.hub.repos:  # the client reads the url from this answer too (exist_ok=True)
            body = {"error": "You already created this model repo", "url": f"{self.hub.url}/{repo_id}"}
            return self._json(409, body, {"X-Error-Message": body["error"]})
        repo = Repo(private=payload.get("visibility") == "private" or bool(payload.get("private")))
        repo.commit("main", {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"}, "initial")
        self.hub.repos[repo_id] = repo
        self._json(200, {"url": f"{self.hub.url}/{repo_id}", "name": repo_id})

    def _info(self, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        sha = repo.resolve(revision)
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        siblings = [{"rfilename": path} for path in sorted(repo.commits[sha])]
        self._json(200, {"id": repo_id, "modelId": repo_id, "sha": sha, "private": repo.private, "siblings": siblings})

    def _tree(self, repo_id: str, revision: str, under: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        sha = repo.resolve(revision)
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        files = repo.commits[sha]
        listing = [
            {"type": "file", "path": path, "size": len(content), "oid": git_blob_sha(content)}
            for path, content in sorted(files.items())
            if not under or path.startswith(under.rstrip("/") + "/")
        ]
        self._json(200, listing)

    def _preupload(self, repo_id: str, revision: str, payload: dict[str, Any]) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        current = repo.commits.get(repo.resolve(revision) or "", {})
        files = [
            {
                "path": f["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": git_blob_sha(current[f["path"]]) if f["path"] in current else None,
            }
            for f in payload["files"]
        ]
        self._json(200, {"files": files, "commitOid": repo.resolve(revision)})

    def _commit(self, repo_id: str, branch: str, body: bytes) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        if branch not in repo.branches:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {branch}")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next(item["value"] for item in lines if item["key"] == "header")
        files = dict(repo.commits[repo.branches[branch]])
        for item in lines:
            value = item["value"]
            if item["key"] == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "deletedFile":
                files.pop(value["path"], None)
            elif item["key"] == "deletedFolder":
                files = {p: c for p, c in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
            elif item["key"] != "header":
                return self._error(400, "BadRequest", f"this test Hub does not support {item['key']!r}")
        sha = repo.commit(branch, files, header.get("summary", ""))
        self._json(200, {"success": True, "commitOid": sha, "commitUrl": f"{self.hub.url}/{repo_id}/commit/{sha}"})

    def _branch(self, repo_id: str, branch: str, payload: dict[str, Any]) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        if branch in repo.branches:
            return self._error(409, "BranchExists", f"Reference already exists: {branch}")
        start = repo.resolve(payload.get("startingPoint") or "main")
        if start is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {payload.get('startingPoint')}")
        repo.branches[branch] = start
        self._json(200, {})

    def _resolve(self, repo_id: str, revision: str, path: str, head: bool) -> None:
        repo = self._repo(repo_id, head)
        if repo is None:
            return
        sha = repo.resolve(revision)
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head)
        content = repo.commits[sha].get(path)
        if content is None:
            headers = {
                "X-Error-Code": "EntryNotFound",
                "X-Error-Message": f"{path} does not exist",
                "X-Repo-Commit": sha,
            }
            return self._send(404, b"{}", headers, head)
        headers = {
            "ETag": f'"{git_blob_sha(content)}"',
            "X-Repo-Commit": sha,
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
        }
        self._send(200, content, headers, head)


class SilentServer:
    """Accepts every connection on 127.0.0.1 and never sends a byte; `url` is its HF_ENDPOINT."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)  # so the accepting thread sees `stopping` (closing does not wake accept)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections: list[socket.socket] = []  # held open, unanswered, until the server stops
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                self.connections.append(self.listener.accept()[0])
            except TimeoutError:
                continue

    def __enter__(self) -> SilentServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()
        self.listener.close()
        for connection in self.connections:
            connection.close()


class StatusServer(_ServedInThread):
    """Answers every request with the HTTP status its repo name asks for (`me/status-503`: 503) and a JSON
    body, with no Hub error code; a request that names no status gets 404."""

    def __init__(self) -> None:
        super().__init__(_StatusHandler)


class _StatusHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))  # create_repo names it here
        asked = re.search(rb"status-(\d{3})", self.path.encode() + b" " + body)
        answer = json.dumps({"error": "the test server answers so"}).encode()
        self.send_response(int(asked[1]) if asked else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_GET = do_POST = do_HEAD = do_PUT = _answer
