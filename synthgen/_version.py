"""Package version, and the versions recorded in metadata and certificates."""
from __future__ import annotations

import platform

__version__ = "0.1.0"


def versions() -> dict:
    """synthgen / torch / python versions."""
    import torch

    return {"synthgen": __version__, "torch": torch.__version__, "python": platform.python_version()}
