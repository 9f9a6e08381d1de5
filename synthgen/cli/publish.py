"""``synthgen publish``: push an export folder to a Hugging Face hub as one commit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from synthgen.share.hub import publish as hub_publish

from ._common import console, user_errors

app = typer.Typer()


@app.command()
def publish(
    folder: Annotated[Path, typer.Argument(help="folder written by `synthgen export`")],
    repo: Annotated[str, typer.Option(help="dataset repo id, org/name")],
    token: Annotated[
        Optional[str], typer.Option(help="hub token (default: HF_TOKEN or the cached login); never printed")
    ] = None,
    endpoint: Annotated[Optional[str], typer.Option(help="hub URL (default: HF_ENDPOINT or huggingface.co)")] = None,
    private: Annotated[bool, typer.Option("--private", help="create the repo private")] = False,
    revision: Annotated[Optional[str], typer.Option(help="branch to commit to (created if missing)")] = None,
    message: Annotated[Optional[str], typer.Option(help="commit message")] = None,
) -> None:
    """Create the repo if needed and upload data, card and certificate in one commit."""
    with user_errors():
        done = hub_publish(
            folder, repo, token=token, endpoint=endpoint, private=private, revision=revision, message=message
        )
    console.print(f"published: {done.repo_url}", soft_wrap=True)
    console.print(f"commit:    {done.commit}", soft_wrap=True)
