"""Artifact <-> Hugging Face dataset folder (a valid hub dataset repo).

Layout::

    DIR/README.md                              dataset card (YAML: configs task_0.., all; dataset_info)
    DIR/data/task_<k>/train-00000-of-00001.parquet
    DIR/synthgen.safetensors                   the artifact itself
    DIR/synthgen.json                          its metadata (what pull checks the sha256 against)
    DIR/certificate.json                       when verified
    DIR/images/*.png                           previews used by the card

Parquet columns: ``pixels`` (exact float32 training tensor, Array3D), ``image`` (PNG preview,
quantised), ``label`` (ClassLabel with the source's class names), ``task`` (int64) and
``soft_label`` (the learned targets). The folder is built in ``DIR.incomplete`` and renamed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import uuid
from pathlib import Path

import torch

from synthgen.core.errors import SynthgenError
from synthgen.core.io import atomic_write, exclusive, inside, read_json, safe_relpath
from synthgen.format.artifact import Artifact, ArtifactError, load_artifact, save_artifact, validate
from synthgen.format.certificate import Certificate
from synthgen.share.card import render_card
from synthgen.share.plots import denormalise, sample_grid

ARTIFACT_FILE, METADATA_FILE, CERTIFICATE_FILE, CARD_FILE = (
    "synthgen.safetensors",
    "synthgen.json",
    "certificate.json",
    "README.md",
)


PARQUET_NAME = "train-00000-of-00001.parquet"


class ExportError(SynthgenError, RuntimeError):
    """The export folder cannot be written or read back."""


def task_config_name(k: int) -> str:
    return f"task_{k}"


def features(art: Artifact):
    """The datasets.Features of every config."""
    import datasets

    c, h, w = art.images.shape[1:]
    return datasets.Features(
        {
            "pixels": datasets.Array3D((c, h, w), "float32"),
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=list(art.metadata["source"]["class_names"])),
            "task": datasets.Value("int64"),
            "soft_label": datasets.List(datasets.Value("float32"), length=art.num_classes),
        }
    )


def _png(img01: torch.Tensor) -> bytes:
    from PIL import Image

    arr = (img01 * 255).round().to(torch.uint8)
    arr = arr[0].numpy() if arr.shape[0] == 1 else arr.permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def task_dataset(art: Artifact, k: int):
    """Task ``k`` as a datasets.Dataset with the export's columns."""
    import datasets

    keep = art.task_ids == k
    x, y, targets = art.images[keep], art.labels[keep], art.targets()[keep]
    shown = denormalise(x, art.metadata["source"]["normalisation"])
    return datasets.Dataset.from_dict(
        {
            "pixels": x.numpy(),
            "image": [{"bytes": _png(im), "path": None} for im in shown],
            "label": y.tolist(),
            "task": [k] * len(y),
            "soft_label": targets.numpy(),
        },
        features=features(art),
    )


def _replace_dir(tmp: Path, dest: Path) -> None:
    """Move the finished build into place (swapping out an existing folder, which --overwrite allowed)."""
    if dest.exists():
        old = dest.with_name(f"{dest.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(dest, old)
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, dest)


def export_folder(
    art: Artifact,
    dest: str | os.PathLike,
    certificate: Certificate | None = None,
    pictures: dict[str, Path] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``art`` as a hub-ready dataset folder; returns the folder (one writer at a time)."""
    dest = Path(dest)
    with exclusive(dest):
        return _export(art, dest, certificate, pictures, overwrite)


def _export(
    art: Artifact, dest: Path, certificate: Certificate | None, pictures: dict[str, Path] | None, overwrite: bool
) -> Path:
    if dest.exists() and not overwrite:
        raise ExportError(f"{dest} exists; pass --overwrite to replace it")
    tmp = dest.with_name(dest.name + ".incomplete")
    if tmp.exists():
        shutil.rmtree(tmp)  # a stale build from an interrupted export
    tmp.mkdir(parents=True)
    try:
        sizes = {}
        for k in range(len(art.tasks)):
            ds = task_dataset(art, k)
            path = tmp / "data" / task_config_name(k) / PARQUET_NAME
            path.parent.mkdir(parents=True)
            ds.to_parquet(str(path))
            sizes[k] = (len(ds), ds.data.nbytes)
        cert = certificate.to_dict() if certificate is not None else art.metadata.get("certificate")
        meta = dict(art.metadata)
        if cert is not None:
            meta["certificate"] = cert
        copy = Artifact(art.images, art.labels, art.task_ids, meta, art.soft_labels)
        save_artifact(copy, tmp / ARTIFACT_FILE)
        atomic_write(tmp / METADATA_FILE, json.dumps(meta, indent=1, sort_keys=True).encode())
        if cert is not None:
            atomic_write(tmp / CERTIFICATE_FILE, json.dumps(cert, indent=1, sort_keys=True).encode())
        images = {
            "preview": sample_grid(
                art.images,
                art.task_ids,
                art.labels,
                meta["source"]["normalisation"],
                meta["source"]["class_names"],
                tmp / "images" / "preview.png",
            )
        }
        for name, src in (pictures or {}).items():
            safe_relpath(f"images/{name}.png")
            images[name] = Path(shutil.copyfile(src, tmp / "images" / f"{name}.png"))
        card = render_card(meta, features(art), sizes, {k: v.relative_to(tmp).as_posix() for k, v in images.items()})
        atomic_write(tmp / CARD_FILE, card.encode())
        _replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _read_metadata(folder: Path) -> dict:
    meta = read_json(
        folder / METADATA_FILE, ArtifactError, f"{folder}: not a synthgen dataset folder (no {METADATA_FILE})"
    )
    if not isinstance(meta, dict):
        raise ArtifactError(f"{folder / METADATA_FILE}: not a JSON object")
    return meta


def _check_inside(folder: Path, names: list[str], root: Path) -> None:
    for name in names:
        if (folder / name).exists() and not inside(folder / name, root):
            raise ArtifactError(f"{folder / name}: a link pointing outside {root}; refusing to read it")


def load_folder(folder: str | os.PathLike, allowed_root: str | os.PathLike | None = None) -> Artifact:
    """The artifact of an export folder; its sha256 must equal the one in synthgen.json.

    Files that are symlinks out of the folder (or out of ``allowed_root``, e.g. an HF cache repo
    whose snapshots link into its blobs) are refused. Nothing else in the folder is read.
    """
    folder = Path(folder)
    _check_inside(folder, [METADATA_FILE, ARTIFACT_FILE], Path(allowed_root or folder))
    meta = _read_metadata(folder)
    if not (folder / ARTIFACT_FILE).is_file():
        raise ArtifactError(f"{folder}: not a synthgen dataset folder (no {ARTIFACT_FILE})")
    art = load_artifact(folder / ARTIFACT_FILE)
    if art.sha256 != meta.get("sha256"):
        raise ArtifactError(
            f"{folder}: {ARTIFACT_FILE} hashes to {art.sha256}, {METADATA_FILE} says {meta.get('sha256')}"
        )
    return art


def artifact_from_parquet(folder: str | os.PathLike) -> Artifact:
    """Rebuild the artifact from the parquet files + synthgen.json alone (the round trip back)."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    _check_inside(folder, [METADATA_FILE], folder)
    meta = _read_metadata(folder)
    cols: dict[str, list] = {"pixels": [], "label": [], "task": [], "soft_label": []}
    for k in range(len(meta.get("tasks", []))):
        path = folder / "data" / task_config_name(k) / PARQUET_NAME
        if not path.is_file():
            raise ArtifactError(f"{folder}: missing {path.relative_to(folder)}")
        _check_inside(folder, [path.relative_to(folder).as_posix()], folder)
        table = pq.read_table(path, columns=list(cols)).to_pydict()
        for name in cols:
            cols[name] += table[name]
    try:
        soft = torch.tensor(cols["soft_label"], dtype=torch.float32)
        tensors = {
            "images": torch.tensor(cols["pixels"], dtype=torch.float32),
            "labels": torch.tensor(cols["label"], dtype=torch.int64),
            "task_ids": torch.tensor(cols["task"], dtype=torch.int64),
        }
    except (TypeError, ValueError) as err:
        raise ArtifactError(f"{folder}: parquet columns are malformed ({err})") from None
    if meta.get("recipe", {}).get("targets") == "soft_labels":
        tensors["soft_labels"] = soft
    validate(tensors, meta, folder)
    return Artifact(tensors["images"], tensors["labels"], tensors["task_ids"], meta, tensors.get("soft_labels"))
