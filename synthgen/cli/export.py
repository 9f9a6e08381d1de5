"""``synthgen export``: artifact -> Hugging Face dataset folder, or folder -> artifact file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from synthgen.api import export as run_export
from synthgen.format.artifact import load_artifact

from ._common import console, user_errors

app = typer.Typer()


@app.command()
def export(
    source: Annotated[Path, typer.Argument(help="artifact .safetensors, or an export folder to turn back into one")],
    to: Annotated[Path, typer.Option("--to", help="output folder (from a file) or .safetensors file (from a folder)")],
    certificate: Annotated[
        Optional[Path], typer.Option(help="certificate to include (default: the one beside the artifact)")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an existing output")] = False,
) -> None:
    """Write a hub-ready dataset folder (parquet + card + artifact), or rebuild an artifact from one."""
    import datasets

    datasets.disable_progress_bars()
    with user_errors():
        out = run_export(source, to, certificate, overwrite)
    if source.is_dir():
        console.print(
            f"artifact: {out} (sha256 {load_artifact(out).sha256[:16]}..., rebuilt from the parquet files)",
            soft_wrap=True,
        )
    else:
        cert = (out / "certificate.json").exists()
        console.print(
            f"dataset folder: {out} (task configs + 'all'; certificate: {'included' if cert else 'none'})",
            soft_wrap=True,
        )
