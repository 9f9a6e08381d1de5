"""Issue 7, rows 1-10, 17, 20: hostile or broken files. Each gets one ArtifactError naming the
file, nothing half-loaded, nothing unpickled, no huge allocation. (Rows 1, 5-8 have more cases
in test_artifact.py.)"""

import json
import struct
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open

from synthgen.format.artifact import METADATA_KEY, Artifact, ArtifactError, load_artifact, save_artifact
from synthgen.share.export import export_folder, load_folder

ROOT = Path(__file__).resolve().parent.parent


def _header_file(path: Path, header: dict | bytes, data: bytes = b"") -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


@pytest.fixture()
def good(tiny_artifact, tmp_path):
    return save_artifact(
        Artifact(
            tiny_artifact.images,
            tiny_artifact.labels,
            tiny_artifact.task_ids,
            dict(tiny_artifact.metadata),
            tiny_artifact.soft_labels,
        ),
        tmp_path / "good.safetensors",
    )


def test_row3_header_not_json(tmp_path):
    with pytest.raises(ArtifactError, match="not valid UTF-8 JSON"):
        load_artifact(_header_file(tmp_path / "a.safetensors", b"{not json at all"))


def test_row3_metadata_reserialised_canonically(good, tmp_path):
    art = load_artifact(good)
    shuffled = {k: art.metadata[k] for k in reversed(list(art.metadata))}
    art.metadata = shuffled
    out = save_artifact(art, tmp_path / "again.safetensors")
    with safe_open(str(out), "pt") as fh:
        text = fh.metadata()[METADATA_KEY]
    assert text == json.dumps(json.loads(text), sort_keys=True)


def test_row4_gapped_offsets(tmp_path):
    header = {
        "images": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        "labels": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]},
    }
    with pytest.raises(ArtifactError, match="gap"):
        load_artifact(_header_file(tmp_path / "g.safetensors", header, b"\0" * 16))


def test_row4_shape_claims_more_than_the_bytes(tmp_path):
    header = {"images": {"dtype": "F32", "shape": [10**12, 1, 28, 28], "data_offsets": [0, 4]}}
    with pytest.raises(ArtifactError, match="needs"):
        load_artifact(_header_file(tmp_path / "n.safetensors", header, b"\0" * 4))


def test_row6_metadata_bad_json(good, tmp_path):
    from safetensors.torch import load_file, save_file

    path = tmp_path / "m.safetensors"
    save_file(load_file(str(good)), str(path), metadata={METADATA_KEY: "{oops"})
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_artifact(path)


def test_row7_label_beyond_classes(tiny_artifact, tmp_path):
    meta = json.loads(json.dumps(tiny_artifact.metadata))
    labels = tiny_artifact.labels.clone()
    labels[0] = 10
    from synthgen.core.io import tensor_sha256
    from synthgen.format.artifact import validate

    tensors = {
        "images": tiny_artifact.images,
        "labels": labels,
        "task_ids": tiny_artifact.task_ids,
        "soft_labels": tiny_artifact.soft_labels,
    }
    meta["sha256"] = tensor_sha256(tensors)
    with pytest.raises(ArtifactError, match="outside its classes"):
        validate(tensors, meta)


def test_row9_pickles_in_a_folder_are_never_read(tiny_artifact, tmp_path):
    import pickle

    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    folder = export_folder(tiny_artifact, tmp_path / "ds")
    for name in ("model.pt", "state.pkl", "pytorch_model.bin", "data/task_0/extra.pkl"):
        (folder / name).write_bytes(pickle.dumps(Evil()))
    assert load_folder(folder).sha256 == tiny_artifact.sha256
    assert not marker.exists()


def test_row9_no_pickle_loading_anywhere_in_the_code():
    offenders = []
    for path in [*ROOT.joinpath("synthgen").rglob("*.py"), *ROOT.joinpath("cli").rglob("*.py")]:
        text = path.read_text()
        for needle in ("torch.load(", "pickle.load", "pickle.loads", "dill.load", "joblib.load", "np.load("):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []


def test_row10_symlink_out_of_the_folder_refused(tiny_artifact, tmp_path):
    folder = export_folder(tiny_artifact, tmp_path / "ds")
    outside = tmp_path / "outside.safetensors"
    (folder / "synthgen.safetensors").rename(outside)
    (folder / "synthgen.safetensors").symlink_to(outside)
    with pytest.raises(ArtifactError, match="outside"):
        load_folder(folder)


def test_row10_picture_names_cannot_escape(tiny_artifact, tmp_path):
    png = tmp_path / "p.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="unsafe path"):
        export_folder(tiny_artifact, tmp_path / "ds", pictures={"../../escape": png})
    assert not (tmp_path / "escape.png").exists() and not (tmp_path / "ds").exists()


def test_row17_resource_caps(tiny_artifact, tmp_path):
    # 100 MB of metadata: refused from the 8-byte length alone
    path = tmp_path / "big.safetensors"
    path.write_bytes(struct.pack("<Q", 100 * 2**20) + b"{")
    with pytest.raises(ArtifactError, match="cap"):
        load_artifact(path)
    # 10^5 tensors
    header = {f"t{i}": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]} for i in range(100_000)}
    with pytest.raises(ArtifactError, match="over the cap"):
        load_artifact(_header_file(tmp_path / "many.safetensors", header))
    # absurd task count in otherwise valid metadata
    from synthgen.format.artifact import validate

    meta = json.loads(json.dumps(tiny_artifact.metadata))
    meta["tasks"] = [[i] for i in range(2_000_000)]
    with pytest.raises(ArtifactError, match="tasks"):
        validate(tiny_artifact.tensors(), meta)


@settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048))
def test_row20_fuzz_random_bytes(data, tmp_path):
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(data)
    with pytest.raises(ArtifactError, match="fuzz.safetensors: "):  # never anything else, never a loaded artifact
        load_artifact(path)


@settings(max_examples=80, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
)
def test_row20_fuzz_mutated_valid_file(edits, cut, good, tmp_path):
    data = bytearray(good.read_bytes())
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    path = tmp_path / "mut.safetensors"
    path.write_bytes(bytes(data))
    try:
        art = load_artifact(path)
    except ArtifactError:
        return
    assert torch.isfinite(art.images).all()  # whatever loads passed every check
