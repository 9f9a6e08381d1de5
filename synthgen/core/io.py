"""Small I/O helpers shared by every writer: atomic writes, one-writer locks, hashes, safe relative paths.

Every file synthgen writes goes through :func:`atomic_write`: the bytes land in a temp file in
the same folder, are fsynced, then ``os.replace``-d over the target. A crash or a full disk
leaves the previous file intact and no half-written one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

from synthgen.core.errors import SynthgenError

TMP_PREFIX = ".synthgen-tmp-"


class WriteError(SynthgenError, OSError):
    """A file could not be written (missing permission, full disk, a folder in the way); nothing was replaced."""


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None] | bytes) -> Path:
    """Write ``path`` atomically. ``write`` is bytes or a function that writes to the temp path.

    An OS failure (a full disk, no permission) leaves the previous file intact and raises WriteError."""
    path = Path(path)
    try:
        return _atomic_write(path, write)
    except OSError as err:
        if isinstance(err, SynthgenError):
            raise
        raise WriteError(f"cannot write {path}: {err.strerror or err}") from None


def _atomic_write(path: Path, write: Callable[[Path], None] | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=path.suffix, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        if isinstance(write, (bytes, bytearray)):
            with os.fdopen(fd, "wb") as fh:
                fh.write(write)
                fh.flush()
                os.fsync(fh.fileno())
        else:
            os.close(fd)
            write(tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


class BusyError(SynthgenError, RuntimeError):
    """Another process is writing the same output."""


@contextlib.contextmanager
def exclusive(target: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``.<name>.lock`` beside ``target`` (filelock) for the duration of a write.

    A second writer to the same output fails at once with BusyError instead of racing. The lock
    file stays in place (deleting it while another process waits on it is the classic race);
    the OS releases the lock when its process dies, so a killed writer never blocks the next one.
    """
    from filelock import FileLock, Timeout

    lock = lock_path(target)
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(lock), timeout=0):
            yield
    except Timeout:
        raise BusyError(f"{target} is being written by another synthgen process") from None


def tensor_sha256(tensors: dict) -> str:
    """sha256 over (name, dtype, shape, raw bytes) of each tensor in name order.

    Independent of the header metadata, so embedding a certificate keeps the hash.
    """
    import torch  # noqa: F401  (tensors are torch tensors; imported here to keep this module light)

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{str(t.dtype).removeprefix('torch.')}|{list(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")  # 0-dim too
    return h.hexdigest()


def read_json(path: str | os.PathLike, error: type[Exception], missing: str | None = None) -> object:
    """The JSON in ``path``; a missing file (``missing`` says what it should have been) or bad JSON is one ``error``."""
    import json

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(missing or f"{path}: no such file") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise error(f"{path}: not valid JSON ({err})") from None
    except OSError as err:
        raise error(f"{path}: cannot read it ({err.strerror or err})") from None


def lock_path(target: str | os.PathLike) -> Path:
    """The hidden lock file that guards writes to ``target``."""
    p = Path(target)
    return p.with_name(f".{p.name}.lock")


def inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Does ``path`` (following symlinks) resolve inside ``root``?"""
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class UnsafePathError(SynthgenError, ValueError):
    """A file name that could point outside its folder."""


def safe_relpath(name: str) -> str:
    """Return ``name`` if it is a harmless relative POSIX path, else raise UnsafePathError.

    Rejects absolute paths, ``..`` components, drive letters, UNC paths and backslashes, so a
    name taken from a repo listing or from metadata can never point outside its folder.
    """
    if not name or "\x00" in name or "\\" in name:
        raise UnsafePathError(f"unsafe path {name!r}")
    posix, win = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or win.is_absolute() or win.drive or name.startswith("//"):
        raise UnsafePathError(f"unsafe path {name!r}: absolute")
    if any(part in ("..", "") for part in name.split("/")) or ":" in name:
        raise UnsafePathError(f"unsafe path {name!r}")
    return name
