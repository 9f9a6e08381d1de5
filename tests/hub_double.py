"""TEST DOUBLE of the Hugging Face hub's *write* API, for the tests only.

olah (a real self-hosted hub mirror) serves reads from git repos in a mirrors folder but has no
upload API. This small stdlib server implements just what ``HfApi.create_repo``,
``create_branch``, ``dataset_info`` and ``create_commit`` call (regular, non-LFS uploads;
run clients with ``HF_HUB_DISABLE_XET=1``) and commits into those same git repos, so the real
upload code path of huggingface_hub runs end to end. Binds to 127.0.0.1 only.

    python tests/hub_double.py --port 8123 --mirrors /tmp/mirrors [--reject-token hf_X] [--fail-commits]

Commits to repos whose name starts with ``fail-`` always fail with 500 (forced failures).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import re
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LOCK = threading.Lock()
ROUTE = re.compile(r"^/api/datasets/([^/]+)/([^/]+)/(revision|preupload|commit|branch)/(.+)$")


def git(repo: Path, *args: str, data: bytes | None = None, env: dict | None = None) -> str:
    out = subprocess.run(
        ["git", *args],
        cwd=repo,
        input=data,
        capture_output=True,
        check=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "hub-double",
            "GIT_AUTHOR_EMAIL": "double@localhost",
            "GIT_COMMITTER_NAME": "hub-double",
            "GIT_COMMITTER_EMAIL": "double@localhost",
            **(env or {}),
        },
    )
    return out.stdout.decode().strip()


def head(repo: Path, branch: str) -> str | None:
    try:
        return git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}")
    except subprocess.CalledProcessError:
        return None


def commit(
    repo: Path, branch: str, files: dict[str, bytes], deleted: list[str], message: str, parent: str | None
) -> str:
    """Write one commit on ``branch`` (compare-and-swap on the expected head)."""
    old = head(repo, branch)
    if parent is not None and parent != old:
        raise PermissionError(f"parent commit {parent} is not the head {old}")
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if old:
            git(repo, "read-tree", old, env=env)
        for path, data in files.items():
            blob = git(repo, "hash-object", "-w", "--stdin", data=data)
            git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        for path in deleted:  # mode 0 removes the entry (works without a work tree)
            git(repo, "update-index", "--index-info", data=f"0 {'0' * 40}\t{path}\n".encode(), env=env)
        tree = git(repo, "write-tree", env=env)
    new = git(repo, "commit-tree", tree, *(["-p", old] if old else []), "-m", message or "commit")
    git(repo, "update-ref", f"refs/heads/{branch}", new, *([old] if old else []))
    return new


class Handler(BaseHTTPRequestHandler):
    server_version = "hub-double/1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if code >= 400:
            self.send_header("X-Error-Message", body.get("error", ""))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        auth = self.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        if not token.startswith("hf_") or token in self.server.reject_tokens:
            self._send(401, {"error": "Invalid credentials in Authorization header"})
            return False
        return True

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length", 0) or 0))

    def _repo(self, org: str, name: str) -> Path:
        return self.server.mirrors / "datasets" / org / name

    def do_GET(self) -> None:
        m = ROUTE.match(urlsplit(self.path).path)
        if not m or m.group(3) != "revision":
            return self._send(404, {"error": "not found"})
        org, name, _, rev = m.groups()
        repo = self._repo(org, name)
        if not repo.exists():
            return self._send(404, {"error": "Repository not found"})
        sha = head(repo, unquote(rev))
        if sha is None:
            return self._send(404, {"error": "Revision Not Found"})
        files = git(repo, "ls-tree", "-r", "--name-only", sha).splitlines()
        self._send(
            200,
            {
                "id": f"{org}/{name}",
                "sha": sha,
                "private": False,
                "siblings": [{"rfilename": f} for f in files],
                "lastModified": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "tags": [],
            },
        )

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == "/api/validate-yaml":
            self._body()
            return self._send(200, {"errors": [], "warnings": []})
        if not self._authorised():
            return
        if path == "/api/repos/create":
            req = json.loads(self._body())
            repo = self._repo(req.get("organization") or "user", req["name"])
            url = f"http://{self.headers.get('host')}/datasets/{req.get('organization')}/{req['name']}"
            with LOCK:
                if repo.exists():
                    return self._send(409, {"error": "You already created this dataset repo", "url": url})
                repo.mkdir(parents=True)
                git(repo, "init", "-q", "--bare", "-b", "main")
                commit(
                    repo,
                    "main",
                    {".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"},
                    [],
                    "initial commit",
                    None,
                )
            return self._send(200, {"url": url})
        m = ROUTE.match(path)
        if not m:
            return self._send(404, {"error": "not found"})
        org, name, action, rev = m.groups()
        repo, rev = self._repo(org, name), unquote(rev)
        if not repo.exists():
            return self._send(404, {"error": "Repository not found"})
        body = self._body()
        if action == "preupload":
            files = json.loads(body)["files"]
            return self._send(
                200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
            )
        if action == "branch":
            with LOCK:
                if head(repo, rev):
                    return self._send(409, {"error": "Reference already exists"})
                git(repo, "update-ref", f"refs/heads/{rev}", head(repo, "main"))
            return self._send(200, {})
        if action == "commit":
            if self.server.fail_commits or name.startswith("fail-"):
                return self._send(500, {"error": "forced failure for the test"})
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            header = next(item["value"] for item in lines if item["key"] == "header")
            files = {i["value"]["path"]: base64.b64decode(i["value"]["content"]) for i in lines if i["key"] == "file"}
            deleted = [i["value"]["path"] for i in lines if i["key"] == "deletedFile"]
            try:
                with LOCK:
                    sha = commit(repo, rev, files, deleted, header.get("summary", ""), header.get("parentCommit"))
            except PermissionError as err:
                return self._send(412, {"error": f"A commit has happened since. {err}"})
            base = f"http://{self.headers.get('host')}/datasets/{org}/{name}"
            return self._send(200, {"commitUrl": f"{base}/commit/{sha}", "commitOid": sha, "success": True})
        self._send(404, {"error": "not found"})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mirrors", required=True)
    ap.add_argument("--reject-token", action="append", default=[])
    ap.add_argument("--fail-commits", action="store_true")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.mirrors = Path(args.mirrors)
    server.reject_tokens = set(args.reject_token)
    server.fail_commits = args.fail_commits
    server.serve_forever()


if __name__ == "__main__":
    main()
