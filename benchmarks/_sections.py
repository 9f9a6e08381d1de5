"""docs/benchmarks.md is written by several scripts: split_mnist.py owns its head, each other script one marked
section (between ``<!-- name -->`` and ``<!-- /name -->``) that the others keep when they rewrite theirs."""

from __future__ import annotations

from pathlib import Path


def marks(name: str) -> tuple[str, str]:
    return f"<!-- {name} -->", f"<!-- /{name} -->"


def sections_of(text: str) -> str:
    """Every marked section of ``text`` (from the first marker on): what split_mnist.py keeps under its head."""
    i = text.find("\n<!-- ")
    return text[i + 1 :] if i >= 0 else ""


def write_section(path: Path, name: str, text: str) -> None:
    """Replace section ``name`` in ``path`` with ``text`` (which holds its markers) where it stands, or append it."""
    start, end = marks(name)
    old = path.read_text() if path.exists() else ""
    if start in old and end in old:
        head, rest = old.split(start, 1)
        path.write_text(head + text.strip("\n") + rest.split(end, 1)[1])
    else:
        path.write_text(old.rstrip("\n") + "\n\n" + text)
