"""The package version (from the installed distribution's metadata), and the versions files record."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("synthgen")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"


def versions() -> dict:
    """synthgen / torch / python versions."""
    import torch

    return {"synthgen": __version__, "torch": torch.__version__, "python": platform.python_version()}
