"""Real data a user already has on disk: the idx files of MNIST / Fashion-MNIST, and an ImageFolder.

- :func:`read_idx` reads one idx file (``*-idx3-ubyte`` images, ``*-idx1-ubyte`` labels, optionally
  gzipped), the format MNIST and Fashion-MNIST ship in.
- :func:`find_idx` looks for the four files of a source in a folder, in torchvision's download layout
  (``DIR/FashionMNIST/raw/``) or in the Debian package's folder (``/usr/share/datasets/fashion-mnist``).
- :func:`read_image_folder` reads torchvision's ImageFolder layout (one sub-folder per class; ``train/``
  and ``test/`` sub-folders when present) into uint8 arrays.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from synthgen.core.errors import SynthgenError

# where a Debian package puts a source's idx files (`apt-get install dataset-fashion-mnist`)
SYSTEM_DIRS = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist"), "mnist": Path("/usr/share/datasets/mnist")}
DEBIAN_PACKAGES = {"fashion-mnist": "dataset-fashion-mnist"}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_TYPES = {0x08: np.uint8}


class DataFileError(SynthgenError, ValueError):
    """A data file or folder is missing or not in the format it claims."""


def read_idx(path: str | Path) -> np.ndarray:
    """The array in an idx file (gzipped when its name ends in ``.gz``): magic 0 0 type ndim, big-endian sizes."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise DataFileError(f"{path}: cannot read ({err})") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataFileError(f"{path}: not an idx file of unsigned bytes")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataFileError(f"{path}: truncated idx header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=_IDX_TYPES[raw[2]], offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataFileError(f"{path}: holds {body.size} values, its header says {shape}")
    return body.reshape(shape)


def _in(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def find_idx(folders: list[Path]) -> dict[str, tuple[Path, Path]] | None:
    """{'train': (images, labels), 'test': ...} from the first folder holding all four idx files, else None."""
    for folder in folders:
        found = {split: (_in(folder, a), _in(folder, b)) for split, (a, b) in IDX_FILES.items()}
        if all(p is not None for pair in found.values() for p in pair):
            return found  # type: ignore[return-value]
    return None


def read_idx_source(files: dict[str, tuple[Path, Path]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images [N,1,H,W], train labels, test images, test labels) from the four idx files."""
    out = []
    for split in ("train", "test"):
        x, y = (read_idx(p) for p in files[split])
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataFileError(f"{files[split][0]}: {x.shape} images do not match {y.shape} labels")
        out += [np.ascontiguousarray(x[:, None]), y.astype(np.int64)]
    return out[0], out[1], out[2], out[3]


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def _read_classes(root: Path, names: list[str]) -> tuple[list[np.ndarray], list[int]]:
    from PIL import Image

    images, labels = [], []
    for label, name in enumerate(names):
        files = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        for p in files:
            try:
                with Image.open(p) as im:
                    images.append(
                        np.asarray(im.convert("L") if im.mode in ("1", "L", "I;16", "P") else im.convert("RGB"))
                    )
            except OSError as err:
                raise DataFileError(f"{p}: not a readable image ({err})") from err
            labels.append(label)
    return images, labels


def _stack(images: list[np.ndarray], root: Path) -> np.ndarray:
    if not images:
        raise DataFileError(f"{root}: no images (expected one sub-folder of images per class)")
    if any(im.ndim == 3 for im in images):  # any colour image: every image in RGB
        images = [np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im for im in images]
    sizes = {im.shape for im in images}
    if len(sizes) > 1:
        raise DataFileError(f"{root}: images differ in size ({sorted(sizes)[:3]}); resize them to one size first")
    x = np.stack(images)
    return np.ascontiguousarray(x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2), dtype=np.uint8)


def read_image_folder(
    root: str | Path,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, list[str]]:
    """(train images, train labels, test images or None, test labels or None, class names) of an ImageFolder:
    ``root/<class>/*.png``, or ``root/train/<class>/`` and ``root/test/<class>/`` (the same classes)."""
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(f"imagefolder: {root} is not a folder")
    split = (root / "train").is_dir() and (root / "test").is_dir()
    base = root / "train" if split else root
    names = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(names) < 2:
        raise DataFileError(f"imagefolder: {base} needs one sub-folder per class (found {len(names)})")
    x, y = _read_classes(base, names)
    train = (_stack(x, base), np.asarray(y, dtype=np.int64))
    if not split:
        return (*train, None, None, names)
    test_names = sorted(p.name for p in (root / "test").iterdir() if p.is_dir() and not p.name.startswith("."))
    if test_names != names:
        raise DataFileError(f"imagefolder: {root}/test has classes {test_names}, train has {names}")
    xt, yt = _read_classes(root / "test", names)
    test = _stack(xt, root / "test")
    if test.shape[1:] != train[0].shape[1:]:
        raise DataFileError(f"imagefolder: test images are {test.shape[1:]}, train images {train[0].shape[1:]}")
    return (*train, test, np.asarray(yt, dtype=np.int64), names)
