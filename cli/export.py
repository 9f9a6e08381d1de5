"""``synthgen export``: artifact -> Hugging Face dataset folder, or folder -> artifact file."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from synthgen.artifact import load_artifact, save_artifact
from synthgen.certificate import certificate_path, check_certificate, load_certificate
from synthgen.hf_export import ExportError, artifact_from_parquet, export_folder

from ._common import console, user_errors

app = typer.Typer()


@app.command()
def export(
    source: Annotated[Path, typer.Argument(help="artifact .safetensors, or an export folder to turn back into one")],
    to: Annotated[Path, typer.Option("--to", help="output folder (from a file) or .safetensors file (from a folder)")],
    certificate: Annotated[Optional[Path], typer.Option(help="certificate to include (default: the one beside the artifact)")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an existing output")] = False,
) -> None:
    """Write a hub-ready dataset folder (parquet + card + artifact), or rebuild an artifact from one."""
    import datasets

    datasets.disable_progress_bars()
    with user_errors():
        if source.is_dir():
            if to.exists() and not overwrite:
                raise ExportError(f"{to} exists; pass --overwrite to replace it")
            art = artifact_from_parquet(source)
            path = save_artifact(art, to)
            console.print(f"artifact: {path} (sha256 {art.sha256[:16]}..., rebuilt from the parquet files)", soft_wrap=True)
            return
        art = load_artifact(source)
        cert_file = certificate or certificate_path(source)
        cert = None
        if cert_file.exists():
            cert = load_certificate(cert_file)
            check_certificate(cert, art)
        elif certificate is not None:
            raise FileNotFoundError(f"{certificate}: no such certificate")
        pics_dir = source.with_name(source.name.removesuffix(".safetensors") + ".verify")
        pictures = {p.stem: p for p in sorted(pics_dir.glob("*.png"))} if pics_dir.is_dir() else {}
        folder = export_folder(art, to, certificate=cert, pictures=pictures, overwrite=overwrite)
    console.print(f"dataset folder: {folder} ({len(art.tasks)} task configs + 'all'; "
                  f"certificate: {'included' if cert else 'none'})", soft_wrap=True)
