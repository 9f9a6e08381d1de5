"""Publish an export folder to a Hugging Face hub and pull it back, checked.

publish: ``create_repo(exist_ok)`` then ONE commit with data, card, metadata and certificate,
made against the branch head we read first (``parent_commit``), so a concurrent publish fails
loudly instead of interleaving. pull: repo listing at a pinned revision -> every filename
checked -> ``snapshot_download`` of an allow-list -> sha256 checked against ``synthgen.json``
(one forced re-download on mismatch, then an error). Tokens come from ``token=``, ``HF_TOKEN``
or the cached login (huggingface_hub resolves them) and are never printed or stored.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path

from synthgen.core.errors import SynthgenError
from synthgen.core.io import safe_relpath
from synthgen.format.artifact import Artifact, ArtifactError
from synthgen.share.export import ARTIFACT_FILE, CARD_FILE, CERTIFICATE_FILE, METADATA_FILE, load_folder

ALLOWED = [CARD_FILE, ARTIFACT_FILE, METADATA_FILE, CERTIFICATE_FILE, "data/task_*/*.parquet", "images/*.png"]


REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class HubError(SynthgenError, RuntimeError):
    """A hub operation failed; the message is one line and never contains a token."""


@dataclass
class Published:
    repo_url: str
    commit: str


@dataclass
class Pulled:
    folder: Path
    commit: str
    artifact: Artifact


def endpoint_of(endpoint: str | None) -> str:
    """Explicit endpoint, else HF_ENDPOINT (read now, not at import), else the public hub."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def _api(endpoint: str | None, token: str | None):
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint_of(endpoint), token=token)


def _scrub(text: str, token: str | None) -> str:
    for secret in {token, os.environ.get("HF_TOKEN"), os.environ.get("HUGGING_FACE_HUB_TOKEN")}:
        if secret:
            text = text.replace(secret, "***")
    return re.sub(r"hf_[A-Za-z0-9]{6,}", "hf_***", text)


def _in_chain(err: BaseException, kinds: tuple) -> bool:
    """Is ``err`` or anything that caused it one of ``kinds``?"""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, kinds):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def _hub_error(err: BaseException, repo_id: str, endpoint: str | None, token: str | None) -> HubError:
    """Map library exceptions to one clear line."""
    import httpx
    from huggingface_hub import errors

    ep = endpoint_of(endpoint)
    status = getattr(getattr(err, "response", None), "status_code", None)
    if isinstance(err, errors.RepositoryNotFoundError) or status == 404 and "Repository" in str(err):
        msg = f"repo '{repo_id}' not found at {ep} (or the token has no access to it)"
    elif isinstance(err, errors.RevisionNotFoundError):
        msg = f"revision not found in '{repo_id}' at {ep}"
    elif status in (401, 403):
        msg = f"the hub at {ep} refused the credentials ({status}): check --token / HF_TOKEN / `hf auth login`"
    elif status == 412 or status == 409:
        msg = f"'{repo_id}' changed on the hub while publishing (conflict {status}); pull and publish again"
    elif _in_chain(
        err,
        (
            httpx.ConnectError,
            httpx.TimeoutException,
            ConnectionError,
            errors.LocalEntryNotFoundError,
            errors.OfflineModeIsEnabled,
        ),
    ):
        msg = f"hub endpoint {ep} is unreachable ({type(err).__name__})"
    else:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        msg = f"hub error for '{repo_id}' at {ep}: {first[:200]}"
    return HubError(_scrub(msg, token))


def _allowed(name: str) -> bool:
    """Is ``name`` one of the files a synthgen dataset repo may carry (the allow-list)?"""
    return any(fnmatch.fnmatch(name, pat) for pat in ALLOWED)


def _files(folder: Path) -> list[str]:
    rel = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return [r for r in rel if _allowed(r)]


def check_repo_id(repo_id: str) -> str:
    if not REPO_ID.match(repo_id or "") or ".." in repo_id:
        raise HubError(f"invalid repo id {repo_id!r}; expected 'org/name'")
    return repo_id


def publish(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool = False,
    revision: str | None = None,
    message: str | None = None,
) -> Published:
    """Upload an export folder as one commit; returns the repo URL and commit sha."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    folder = Path(folder)
    check_repo_id(repo_id)
    art = load_folder(folder)  # never publish something that does not validate
    files = _files(folder)
    api = _api(endpoint, token)
    branch = revision or "main"
    try:
        url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if branch != "main":
            api.create_branch(repo_id, branch=branch, repo_type="dataset", exist_ok=True)
        info = api.dataset_info(repo_id, revision=branch)
        existing = [s.rfilename for s in (info.siblings or [])]
        ops = [CommitOperationAdd(path_in_repo=safe_relpath(f), path_or_fileobj=str(folder / f)) for f in files]
        ops += [
            CommitOperationDelete(path_in_repo=f)
            for f in existing
            if f not in files and f != ".gitattributes" and _allowed(f)
        ]
        commit = api.create_commit(
            repo_id,
            ops,
            commit_message=message or f"synthgen: publish {art.sha256[:12]}",
            repo_type="dataset",
            revision=branch,
            parent_commit=info.sha,
        )
    except HubError:
        raise
    except Exception as err:  # noqa: BLE001 - every library failure becomes one line without the token
        raise _hub_error(err, repo_id, endpoint, token) from None
    return Published(str(url), commit.oid)


def split_ref(ref: str) -> tuple[str, str | None]:
    """'org/name@rev' -> ('org/name', 'rev')."""
    repo_id, _, rev = ref.partition("@")
    return check_repo_id(repo_id), rev or None


def pull(
    repo_id: str,
    *,
    revision: str | None = None,
    to: str | os.PathLike | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Pulled:
    """Download a published synthgen dataset at a pinned commit and check it."""
    from huggingface_hub import snapshot_download

    check_repo_id(repo_id)
    api = _api(endpoint, token)
    try:
        info = api.dataset_info(repo_id, revision=revision or "main")
    except Exception as err:  # noqa: BLE001
        raise _hub_error(err, repo_id, endpoint, token) from None
    names = [s.rfilename for s in (info.siblings or [])]
    for name in names:
        try:
            safe_relpath(name)
        except ValueError as err:
            raise HubError(f"'{repo_id}' lists an unsafe filename ({err}); refusing to download") from None
    if METADATA_FILE not in names or ARTIFACT_FILE not in names:
        raise HubError(f"'{repo_id}' is not a synthgen dataset repo (no {METADATA_FILE} / {ARTIFACT_FILE})")
    wanted = [n for n in names if _allowed(n)]
    last: Exception | None = None
    for force in (False, True):
        try:
            folder = snapshot_download(
                repo_id,
                repo_type="dataset",
                revision=info.sha,
                allow_patterns=wanted,
                local_dir=str(to) if to else None,
                endpoint=endpoint_of(endpoint),
                token=token,
                force_download=force,
                cache_dir=cache_dir,
            )
        except Exception as err:  # noqa: BLE001
            raise _hub_error(err, repo_id, endpoint, token) from None
        # a cache snapshot's files are links into the repo's blobs/ two levels up: allow that root only
        root = Path(folder) if to else Path(folder).parent.parent
        try:
            return Pulled(Path(folder), info.sha, load_folder(folder, allowed_root=root))
        except ArtifactError as err:
            last = err
    raise HubError(f"downloaded '{repo_id}'@{info.sha[:12]} is corrupt even after a fresh download: {last}")
