"""Small I/O helpers shared by every writer: atomic writes, one-writer locks, safe relative paths.

Every file synthgen writes goes through :func:`atomic_write`: the bytes land in a temp file in
the same folder, are fsynced, then ``os.replace``-d over the target. A crash or a full disk
leaves the previous file intact and no half-written one.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

TMP_PREFIX = ".synthgen-tmp-"


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None] | bytes) -> Path:
    """Write ``path`` atomically. ``write`` is bytes or a function that writes to the temp path."""
    path = Path(path)
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


class BusyError(RuntimeError):
    """Another process is writing the same output."""


@contextlib.contextmanager
def exclusive(target: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``<target>.lock`` for the duration of a write.

    A second writer to the same output fails at once with BusyError instead of racing; the lock
    dies with its process (flock), so a killed writer never leaves a stale lock behind.
    """
    import fcntl

    lock = Path(str(target) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(f"{target} is being written by another synthgen process") from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
    finally:
        os.close(fd)


def inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Does ``path`` (following symlinks) resolve inside ``root``?"""
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def safe_relpath(name: str) -> str:
    """Return ``name`` if it is a harmless relative POSIX path, else raise ValueError.

    Rejects absolute paths, ``..`` components, drive letters, UNC paths and backslashes, so a
    name taken from a repo listing or from metadata can never point outside its folder.
    """
    if not name or "\x00" in name or "\\" in name:
        raise ValueError(f"unsafe path {name!r}")
    posix, win = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or win.is_absolute() or win.drive or name.startswith("//"):
        raise ValueError(f"unsafe path {name!r}: absolute")
    if any(part in ("..", "") for part in name.split("/")) or ":" in name:
        raise ValueError(f"unsafe path {name!r}")
    return name
