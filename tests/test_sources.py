"""Real data sources: embedded ones load offline; online code paths run on small local data."""

import struct

import numpy as np
import pytest
import torch

from synthgen.data.config import SourceConfig
from synthgen.data.sources import SourceError, load_source, normalise


def test_mnist_5k_split(mnist5k):
    s = mnist5k
    assert s.images.shape == (5000, 1, 28, 28) and s.images.dtype == torch.uint8
    assert torch.bincount(s.labels).tolist() == [500] * 10
    rec = s.split_record()
    assert rec["counts"] == {"train": 3500, "val": 500, "test": 1000}
    for which, n in (("train", 350), ("val", 50), ("test", 100)):
        _, y = s.split(which)
        assert torch.bincount(y).tolist() == [n] * 10
    # disjoint and complete
    all_idx = torch.cat([s.train_idx, s.val_idx, s.test_idx])
    assert len(torch.unique(all_idx)) == 5000
    # pixels are real digits, not noise: mean intensity like MNIST (~0.13)
    assert 0.1 < s.normalisation()["mean"][0] < 0.16


def test_split_is_seeded(mnist5k):
    again = load_source("mnist-5k")
    assert torch.equal(again.test_idx, mnist5k.test_idx)
    other = load_source(SourceConfig(split_seed=1))
    assert not torch.equal(other.test_idx, mnist5k.test_idx)
    assert other.split_record()["test_index_sha256"] != mnist5k.split_record()["test_index_sha256"]


def test_each_load_owns_its_images():
    """The embedded digits are parsed once per process; what one caller writes into its copy, the next never sees."""
    first = load_source("mnist-5k")
    kept = first.images[0].clone()
    first.images[0] = 255 - first.images[0]
    assert torch.equal(load_source("mnist-5k").images[0], kept)


def test_digits_8x8():
    s = load_source("digits")
    assert s.image_shape == (1, 8, 8) and s.num_classes == 10
    assert int(s.images.max()) == 255
    x = normalise(s.split("train")[0], s.normalisation())
    assert abs(float(x.mean())) < 1e-3


def test_unknown_source():
    with pytest.raises(SourceError, match="unknown source 'mnist-6k'.*mnist-5k"):
        load_source("mnist-6k")


def _write_idx(path, array: np.ndarray):
    code = 0x08  # unsigned byte
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_torchvision_mnist_from_local_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    s = load_source(SourceConfig(name="mnist", data_dir=str(tmp_path)))
    assert s.official_test and len(s.test_idx) == 20 and s.image_shape == (1, 28, 28)
    assert len(s.train_idx) + len(s.val_idx) == 40
    assert s.split_record()["test_fraction"] is None


def test_torchvision_offline_is_one_clear_line(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.FashionMNIST, "mirrors", ["http://127.0.0.1:9/"])
    with pytest.raises(SourceError) as err:
        load_source(SourceConfig(name="fashion-mnist", data_dir=str(tmp_path)))
    msg = str(err.value)
    assert "unreachable" in msg and "mnist-5k, digits" in msg and "\n" not in msg


def test_hf_source_from_local_parquet_folder(tmp_path):
    import datasets
    from PIL import Image

    rng = np.random.default_rng(0)
    feats = datasets.Features({"img": datasets.Image(), "digit": datasets.ClassLabel(names=["zero", "one", "two"])})
    for split, n in (("train", 30), ("test", 9)):
        ds = datasets.Dataset.from_dict(
            {
                "img": [Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)) for _ in range(n)],
                "digit": [i % 3 for i in range(n)],
            },
            features=feats,
        )
        ds.to_parquet(str(tmp_path / f"{split}.parquet"))
    s = load_source(SourceConfig(name=f"hf:{tmp_path}", image_column="img", label_column="digit"))
    assert s.class_names == ["zero", "one", "two"]
    assert s.image_shape == (3, 12, 12) and len(s.test_idx) == 9
    with pytest.raises(SourceError, match="no column 'image'"):
        load_source(SourceConfig(name=f"hf:{tmp_path}"))


def test_hf_unreachable(tmp_path, monkeypatch):
    import datasets
    import huggingface_hub

    # the libraries read these at import time; patch the constants they consult
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(SourceError, match="unreachable.*offline sources"):
        load_source(SourceConfig(name="hf:nobody/no-such-dataset", data_dir=str(tmp_path)))
