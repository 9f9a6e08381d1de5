"""Sources a user brings: idx files (MNIST / Fashion-MNIST layout) and ImageFolder trees, written by the tests."""

import gzip
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from synthgen.cli.main import app
from synthgen.data import files, sources
from synthgen.data.config import SourceConfig
from synthgen.data.files import DataFileError, read_idx
from synthgen.data.sources import SourceError, load_source
from synthgen.format.artifact import load_artifact

runner = CliRunner()


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(folder, n_train=60, n_test=20, gz=True, seed=0):
    """The four idx files of a 10-class, 28x28 source (each class a bright square at its own place)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n) % 10
        x = rng.integers(0, 40, size=(n, 28, 28))
        for i, c in enumerate(y):
            x[i, 2 * c : 2 * c + 8, 4:12] = 250
        arrays[split] = (x.astype(np.uint8), y.astype(np.uint8))
        for kind, a in (("images-idx3-ubyte", x), ("labels-idx1-ubyte", y)):
            path = folder / f"{split}-{kind}{'.gz' if gz else ''}"
            path.write_bytes(gzip.compress(_idx(a)) if gz else _idx(a))
    return arrays


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No Debian folder and no network: every test says where its files are."""
    monkeypatch.setattr(files, "SYSTEM_DIRS", {"fashion-mnist": tmp_path / "no-such-dir"})
    monkeypatch.setattr(sources, "SYSTEM_DIRS", files.SYSTEM_DIRS)

    def no_network(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network")

    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.FashionMNIST, "download", no_network)
    monkeypatch.setattr(tvd.MNIST, "download", no_network)


def test_read_idx_reads_plain_and_gzipped_files_and_refuses_broken_ones(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(_idx(a))
    (tmp_path / "a.gz").write_bytes(gzip.compress(_idx(a)))
    assert np.array_equal(read_idx(tmp_path / "a"), a) and np.array_equal(read_idx(tmp_path / "a.gz"), a)
    (tmp_path / "short").write_bytes(_idx(a)[:-1])
    with pytest.raises(DataFileError, match="holds 23 values, its header says"):
        read_idx(tmp_path / "short")
    (tmp_path / "png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(DataFileError, match="not an idx file"):
        read_idx(tmp_path / "png")


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_fashion_mnist_reads_idx_files_from_data_dir_in_either_layout(tmp_path, layout):
    folder = tmp_path / "data" / ("FashionMNIST/raw" if layout == "torchvision" else "")
    arrays = write_idx_set(folder, gz=layout == "flat")
    src = load_source(SourceConfig(name="fashion-mnist", data_dir=str(tmp_path / "data")))
    x_test, y_test = src.split("test")
    assert src.official_test and np.array_equal(x_test[:, 0].numpy(), arrays["t10k"][0])
    assert np.array_equal(y_test.numpy(), arrays["t10k"][1])
    assert len(src.train_idx) + len(src.val_idx) == 60 and src.image_shape == (1, 28, 28)
    assert src.class_names[0] == "T-shirt/top" and src.class_names[9] == "Ankle boot"


def test_the_debian_package_folder_is_used_without_data_dir(tmp_path, monkeypatch):
    write_idx_set(tmp_path / "system")
    monkeypatch.setitem(files.SYSTEM_DIRS, "fashion-mnist", tmp_path / "system")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert len(load_source("fashion-mnist").test_idx) == 20


def test_missing_files_offline_say_how_to_install_them(tmp_path):
    with pytest.raises(SourceError, match=r"apt-get install dataset-fashion-mnist.*--data-dir") as err:
        load_source(SourceConfig(name="fashion-mnist", data_dir=str(tmp_path / "empty")))
    assert "\n" not in str(err.value)


def _png(path, value, size=(8, 8), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 0, 0)).save(path)


def test_imagefolder_with_train_and_test_folders(tmp_path):
    for split, n in (("train", 4), ("test", 2)):
        for c, name in enumerate(("cat", "dog", "emu")):
            for i in range(n):
                _png(tmp_path / split / name / f"{i}.png", 60 * c + i)
    src = load_source(f"imagefolder:{tmp_path}")
    assert src.class_names == ["cat", "dog", "emu"] and src.official_test and src.image_shape == (1, 8, 8)
    x, y = src.split("test")
    assert y.tolist() == [0, 0, 1, 1, 2, 2] and x[2, 0, 0, 0] == 60


def test_imagefolder_without_a_test_folder_gets_a_seeded_split_and_rgb(tmp_path):
    for c in range(2):
        for i in range(10):
            _png(tmp_path / f"class{c}" / f"{i}.png", 100 * c + i, mode="RGB")
    src = load_source(f"imagefolder:{tmp_path}")
    again = load_source(f"imagefolder:{tmp_path}")
    assert not src.official_test and src.image_shape == (3, 8, 8) and len(src.test_idx) == 4
    assert src.split_record()["test_index_sha256"] == again.split_record()["test_index_sha256"]


def test_imagefolder_errors_name_the_problem(tmp_path):
    with pytest.raises(DataFileError, match="is not a folder"):
        load_source(f"imagefolder:{tmp_path / 'none'}")
    _png(tmp_path / "a" / "0.png", 1)
    _png(tmp_path / "b" / "0.png", 1, size=(9, 9))
    with pytest.raises(DataFileError, match="differ in size"):
        load_source(f"imagefolder:{tmp_path}")


def test_generate_and_inspect_on_idx_files_through_data_dir(tmp_path):
    write_idx_set(tmp_path / "fm", n_train=200, n_test=50)
    out = tmp_path / "fm.safetensors"
    args = ["generate", "--source", "fashion-mnist", "--data-dir", str(tmp_path / "fm"), "--out", str(out)]
    tiny = "--tasks 0,1/2,3 --ipc 2 --inner-steps 2 --steps 4 --learners mlp --init kmeans".split()
    res = runner.invoke(app, [*args, *tiny, "--device", "cpu"])
    assert res.exit_code == 0, res.output
    art = load_artifact(out)
    assert art.metadata["source"]["name"] == "fashion-mnist" and art.metadata["source"]["split"]["counts"]["test"] == 50
    assert str(tmp_path) not in json.dumps(art.metadata)  # a folder on this machine is not the data's business
