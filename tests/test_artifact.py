"""The format: round trip, and each bad input gives one ArtifactError naming the problem."""

import copy
import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from synthgen.core.io import tensor_sha256
from synthgen.format.artifact import Artifact, ArtifactError, load_artifact, save_artifact


def _clone(art: Artifact) -> Artifact:
    return Artifact(
        art.images.clone(),
        art.labels.clone(),
        art.task_ids.clone(),
        copy.deepcopy(art.metadata),
        None if art.soft_labels is None else art.soft_labels.clone(),
    )


def _raw_write(path, tensors, meta):
    """Write a file bypassing save_artifact's validation (what an attacker or a bug could write)."""
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"synthgen": json.dumps(meta)})


def test_round_trip_exact(tiny_artifact, tmp_path):
    path = save_artifact(_clone(tiny_artifact), tmp_path / "a.safetensors")
    back = load_artifact(path)
    for k, v in tiny_artifact.tensors().items():
        assert torch.equal(back.tensors()[k], v)
    assert back.sha256 == tiny_artifact.sha256 == back.metadata["sha256"]
    assert back.tasks == [(0, 1), (2, 3)]
    x, y, t = back.task(1)
    assert set(y.tolist()) == {2, 3} and len(back.task_dataset(1)) == len(x) == 10
    assert not list(tmp_path.glob(".synthgen-tmp-*"))


def test_hash_ignores_metadata_but_not_pixels(tiny_artifact):
    art = _clone(tiny_artifact)
    h = art.sha256
    art.metadata["certificate"] = {"verdict": "certified"}
    assert art.sha256 == h
    art.images[0, 0, 0, 0] += 1e-3
    assert art.sha256 != h


def _write_variant(tiny_artifact, tmp_path, mutate):
    art = _clone(tiny_artifact)
    tensors, meta = art.tensors(), art.metadata
    mutate(tensors, meta)
    if "sha256" in meta:  # keep the hash consistent so the schema check itself is what fails
        meta["sha256"] = tensor_sha256(tensors)
    path = tmp_path / "bad.safetensors"
    _raw_write(path, tensors, meta)
    return path


BAD = {
    "missing tensor": (lambda t, m: t.pop("task_ids"), "missing tensor"),
    "extra tensor": (lambda t, m: t.update(extra=torch.zeros(1)), "unexpected tensor"),
    "wrong image size": (
        lambda t, m: t.update(images=t["images"][:, :, :20, :20].contiguous()),
        "expected \\[N, 1, 28, 28\\]",
    ),
    "count mismatch": (lambda t, m: t.update(labels=t["labels"][:-1].contiguous()), "expected \\[20\\]"),
    "float64 images": (lambda t, m: t.update(images=t["images"].double()), "dtype float64, expected float32"),
    "float labels": (lambda t, m: t.update(labels=t["labels"].float()), "dtype float32, expected int64"),
    "nan pixels": (lambda t, m: t["images"].view(-1)[5].fill_(float("nan")), "NaN or Inf"),
    "inf pixels": (lambda t, m: t["images"].view(-1)[5].fill_(float("inf")), "NaN or Inf"),
    "label outside task": (lambda t, m: t["labels"].__setitem__(0, 3), "outside its classes"),
    "label -1": (lambda t, m: t["labels"].__setitem__(0, -1), "outside its classes"),
    "empty task": (lambda t, m: t["task_ids"].fill_(0), "task 1 has no images|outside its classes"),
    "overlapping tasks": (lambda t, m: m.update(tasks=[[0, 1], [1, 2, 3]]), "overlap"),
    "task class out of range": (lambda t, m: m.update(tasks=[[0, 1], [2, 30]]), "outside 0..9"),
    "unknown format": (lambda t, m: m.update(format_version=99), "unknown format_version 99"),
    "missing recipe": (lambda t, m: m.pop("recipe"), "lacks 'recipe'"),
    "lr per task short": (lambda t, m: m["recipe"].update(lr_per_task=[0.1]), "lr_per_task"),
    "negative lr": (lambda t, m: m["recipe"].update(lr_per_task=[0.1, -0.1]), "lr_per_task"),
    "momentum 1": (lambda t, m: m["recipe"].update(momentum=1.0), "recipe.momentum"),
    "momentum text": (lambda t, m: m["recipe"].update(momentum="0.5"), "recipe.momentum"),
    "rehearsal text": (lambda t, m: m["recipe"].update(rehearsal="yes"), "recipe.rehearsal"),
    "shift too far": (lambda t, m: m["recipe"].update(shift=30), "recipe.shift"),
    "shift fraction": (lambda t, m: m["recipe"].update(shift=1.5), "recipe.shift"),
    "dsa text": (lambda t, m: m["recipe"].update(dsa="yes"), "recipe.dsa"),
    "unknown lr schedule": (lambda t, m: m["recipe"].update(lr_schedule="linear"), "recipe.lr_schedule"),
    "negative clip": (lambda t, m: m["recipe"].update(clip_grad_norm=-1.0), "recipe.clip_grad_norm"),
    "clip text": (lambda t, m: m["recipe"].update(clip_grad_norm="5"), "recipe.clip_grad_norm"),
    "soft labels not probabilities": (lambda t, m: t["soft_labels"].mul_(2), "probability rows"),
    "task ids out of range": (lambda t, m: t["task_ids"].__setitem__(0, 7), "task_ids outside"),
    "soft labels missing but recipe wants them": (lambda t, m: t.pop("soft_labels"), "has no soft_labels"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_schema_errors(tiny_artifact, tmp_path, case):
    mutate, msg = BAD[case]
    path = _write_variant(tiny_artifact, tmp_path, mutate)
    with pytest.raises(ArtifactError, match=msg) as err:
        load_artifact(path)
    assert str(path) in str(err.value)


def test_tampered_pixels_fail_the_hash(tiny_artifact, tmp_path):
    art = _clone(tiny_artifact)
    art.metadata["sha256"] = art.sha256
    art.images[3, 0, 10, 10] += 0.5
    path = tmp_path / "t.safetensors"
    _raw_write(path, art.tensors(), art.metadata)
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        load_artifact(path)


def test_save_refuses_nan(tiny_artifact, tmp_path):
    art = _clone(tiny_artifact)
    art.images[0, 0, 0, 0] = float("nan")
    with pytest.raises(ArtifactError, match="NaN"):
        save_artifact(art, tmp_path / "n.safetensors")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cut", [0, 4, 8, 20, -100, -1])
def test_truncated_files(tiny_artifact, tmp_path, cut):
    good = save_artifact(_clone(tiny_artifact), tmp_path / "g.safetensors").read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(good[:cut] if cut >= 0 else good[: len(good) + cut])
    with pytest.raises(ArtifactError, match="truncated|too short|not valid"):
        load_artifact(path)


def test_header_attacks(tmp_path):
    path = tmp_path / "h.safetensors"
    path.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    with pytest.raises(ArtifactError, match="cap"):
        load_artifact(path)
    raw = b'{"a": 1, "a": 2}'
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    with pytest.raises(ArtifactError, match="duplicate"):
        load_artifact(path)
    raw = b"\xff\xfe{}"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    with pytest.raises(ArtifactError, match="UTF-8"):
        load_artifact(path)
    header = {
        "images": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "labels": {"dtype": "I64", "shape": [1], "data_offsets": [4, 12]},
    }
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 12)
    with pytest.raises(ArtifactError, match="overlap or leave a gap"):
        load_artifact(path)


def test_not_a_synthgen_file_and_missing_file(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(ArtifactError, match="not a synthgen artifact"):
        load_artifact(path)
    with pytest.raises(ArtifactError, match="no such file"):
        load_artifact(tmp_path / "nope.safetensors")


def test_pickle_renamed_is_never_unpickled(tmp_path):
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ArtifactError):
        load_artifact(path)
    assert not marker.exists()
