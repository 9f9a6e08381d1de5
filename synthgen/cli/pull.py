"""``synthgen pull``: download a published synthgen dataset at a pinned commit, checked."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from synthgen.share.hub import pull as hub_pull
from synthgen.share.hub import split_ref

from ._common import console, user_errors

app = typer.Typer()


@app.command()
def pull(
    repo: Annotated[str, typer.Argument(help="dataset repo id, org/name (or org/name@revision)")],
    revision: Annotated[Optional[str], typer.Option(help="branch, tag or commit (default: main)")] = None,
    to: Annotated[Optional[Path], typer.Option(help="folder to download into (default: the HF cache)")] = None,
    endpoint: Annotated[Optional[str], typer.Option(help="hub URL (default: HF_ENDPOINT or huggingface.co)")] = None,
    token: Annotated[Optional[str], typer.Option(help="hub token for private repos; never printed")] = None,
) -> None:
    """Download ORG/NAME, check every filename and the artifact's sha256, print the local folder."""
    with user_errors():
        repo_id, rev = split_ref(repo)
        got = hub_pull(repo_id, revision=revision or rev, to=to, endpoint=endpoint, token=token)
    console.print(f"folder: {got.folder}", soft_wrap=True)
    console.print(f"commit: {got.commit}  (sha256 {got.artifact.sha256[:16]}... checked)", soft_wrap=True)
