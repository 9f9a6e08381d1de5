"""Turn what a user names (a file today; an HF dataset folder or a hub repo id later) into an Artifact.

The verifier and the CLI go through :func:`resolve_artifact`, so new kinds of reference plug in
here without touching the verification protocol.
"""
from __future__ import annotations

import os
from pathlib import Path

from .artifact import Artifact, ArtifactError, load_artifact


def resolve_artifact(ref: str | os.PathLike) -> Artifact:
    """A ``.safetensors`` artifact file -> validated Artifact."""
    path = Path(ref)
    if path.is_file():
        return load_artifact(path)
    if path.is_dir():
        raise ArtifactError(f"{path}: is a folder; pass the artifact .safetensors file")
    raise ArtifactError(f"{path}: no such file")
