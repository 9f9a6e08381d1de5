"""Turn what a user names into a validated Artifact: a ``.safetensors`` file, an export folder
(see synthgen.share.export), or a hub dataset repo ``org/name[@revision]`` (pulled and checked by
synthgen.share.hub). The verifier and the CLI go through :func:`resolve_artifact`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from synthgen.format.artifact import Artifact, ArtifactError, load_artifact
from synthgen.share.export import load_folder
from synthgen.share.hub import REPO_ID, pull, split_ref


@dataclass
class Resolved:
    artifact: Artifact
    kind: str  # "file" | "folder" | "hub"
    label: str  # a filesystem-safe name for outputs derived from it
    commit: str | None = None  # hub commit sha when pulled


def resolve(ref: str | os.PathLike, endpoint: str | None = None, token: str | None = None) -> Resolved:
    """Resolve ``ref`` (file, folder or ``org/name[@rev]``)."""
    path = Path(ref)
    if path.is_file():
        return Resolved(load_artifact(path), "file", path.name.removesuffix(".safetensors"))
    if path.is_dir():
        return Resolved(load_folder(path), "folder", path.resolve().name)
    text = str(ref)
    if REPO_ID.match(text.partition("@")[0]):
        repo_id, rev = split_ref(text)
        got = pull(repo_id, revision=rev, endpoint=endpoint, token=token)
        return Resolved(got.artifact, "hub", repo_id.replace("/", "__"), got.commit)
    raise ArtifactError(f"{ref}: no such file or folder, and not a hub repo id 'org/name[@revision]'")


def resolve_artifact(ref: str | os.PathLike) -> Artifact:
    """Just the artifact of :func:`resolve`."""
    return resolve(ref).artifact
