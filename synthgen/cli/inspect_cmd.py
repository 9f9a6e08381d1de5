"""``synthgen inspect``: the artifact's metadata as a table, and a PNG grid of its images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from synthgen.format.artifact import load_artifact, siblings
from synthgen.format.recipe import dsa_of, optimiser_of, shift_of
from synthgen.share.card import optimiser_code
from synthgen.share.plots import sample_grid

from ._common import console, user_errors

app = typer.Typer()


def metadata_table(meta: dict, sha256: str) -> Table:
    """Readable rows of the metadata."""
    src, rec, gen = meta["source"], meta["recipe"], meta.get("generation", {})
    opt = optimiser_of(rec)
    t = Table(title="synthgen artifact", show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value")
    split, norm = src.get("split", {}), src["normalisation"]
    rows = [
        ("format_version", meta["format_version"]),
        (
            "source",
            f"{src['name']}  images {'x'.join(map(str, src['image_shape']))}  classes {len(src['class_names'])}",
        ),
        ("split", f"{split.get('rule', '?')}; counts {split.get('counts')}; seed {split.get('seed')}"),
        (
            "normalisation",
            f"x/{norm['scale']:g}, mean {norm['mean']}, std {norm['std']}",
        ),
        ("tasks", " / ".join(",".join(src["class_names"][c] for c in t_) for t_ in meta["tasks"])),
        ("scenario", meta["scenario"]),
        (
            "recipe",
            f"{optimiser_code(rec)}, lr/task {[round(v, 4) for v in rec['lr_per_task']]}, "
            f"{rec['steps_per_task']} steps/task, batch {rec['batch_size']}"
            + (f", images shifted by up to {shift} px each step" if (shift := shift_of(rec)) else "")
            + (", DSA's augmentation each step" if dsa_of(rec) else "")
            + (", lr annealed to 0 by a cosine over each task" if opt.cosine else "")
            + (f", gradients clipped to norm {opt.clip:g}" if opt.clip else ""),
        ),
        ("targets", "soft labels (learned)" if rec.get("targets") == "soft_labels" else "hard labels"),
        (
            "generated with",
            f"ipc={gen.get('ipc')} archs={gen.get('archs')} "
            f"steps={gen.get('outer_steps')} seed={gen.get('seed')} in {gen.get('wall_time_s')} s",
        ),
        ("validation acc", gen.get("final_val_acc")),
        ("versions", json.dumps(meta.get("versions", {}))),
        ("sha256", sha256),
        ("certificate", (meta.get("certificate") or {}).get("verdict", "none")),
    ]
    for k, v in rows:
        t.add_row(k, str(v))
    return t


@app.command()
def inspect(
    artifact: Annotated[Path, typer.Argument(help="artifact .safetensors file")],
    png: Annotated[
        Optional[Path], typer.Option(help="where to write the image grid (default: next to the file)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw metadata JSON instead of a table")] = False,
) -> None:
    """Validate ARTIFACT, print its metadata, and write a PNG grid of its images per task."""
    with user_errors():
        art = load_artifact(artifact)
        if as_json:
            console.print_json(json.dumps(art.metadata))
            return
        console.print(metadata_table(art.metadata, art.sha256))
        console.print(f"sha256: {art.sha256}", soft_wrap=True)  # whole on one line, to copy, at any terminal width
        out = png or siblings(artifact).grid
        path = sample_grid(
            art.images,
            art.task_ids,
            art.labels,
            art.metadata["source"]["normalisation"],
            art.metadata["source"]["class_names"],
            out,
        )
    console.print(f"image grid: {path}")
