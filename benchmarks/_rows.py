"""A JSON-lines log of measured rows, shared by the ablation scripts: print its table, or add a row."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path


def read_rows(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def table_or_append(
    log: Path, show_table: bool, table: Callable[[list[dict]], str], make_row: Callable[[], dict], threads: int
) -> None:
    """``--table``: print the table of every logged row; else measure one row (on ``threads``), log and print it."""
    if show_table:
        print(table(read_rows(log)))
        return
    import torch

    torch.set_num_threads(threads)
    row = make_row()
    with log.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    print(table([row]))
