"""Which memory format trains each zoo learner faster on this CPU: seconds for the work of one verifier cell,
with the learner in PyTorch's default (NCHW) layout vs ``torch.channels_last``.

    python benchmarks/memory_format.py   # run it alone; writes docs/memory_format.md

A cell here is 100 Adam steps on 60 images (the default recipe's mean rehearsed batch) and one scoring of 1,000
images (no autograd), on one torch thread: what each of `synthgen verify`'s processes runs. Median of 3 repeats.
The zoo's ``channels_last`` flag (synthgen.nn.learners) records the outcome: the verifier trains a learner in
channels_last where it was at least 1.15x faster here.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from synthgen.nn.consumer import predict
from synthgen.nn.learners import ZOO, build_learner

SHAPE, CLASSES, IMAGES, STEPS, SCORED = (1, 28, 28), 10, 60, 100, 1000


def cell(arch: str, layout: torch.memory_format, x: torch.Tensor, y: torch.Tensor, test: torch.Tensor) -> float:
    """Seconds to train a fresh learner ``STEPS`` Adam steps on (x, y) and score ``test``."""
    model = build_learner(arch, SHAPE, CLASSES, 0).to(memory_format=layout)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(STEPS):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    predict(model, test)
    return time.perf_counter() - t0


def render(rows: list[str]) -> str:
    """docs/memory_format.md: the table of ``rows`` under what was measured, and how to read it."""
    head = (
        f"Machine: {platform.machine()}, torch {torch.__version__}, 1 torch thread; median of 3 repeats. A cell: "
        f"{STEPS} Adam steps on {IMAGES} images, then scoring {SCORED:,} images."
    )
    note = (
        "PyTorch's CPU max pooling and BatchNorm kernels are vectorised over the channels in channels_last and not "
        "in NCHW; instance norm (GroupNorm) is the other way round. The verifier builds each zoo learner in the "
        "format its `channels_last` flag names (synthgen.nn.learners); your own `--model` networks train as you "
        "wrote them. The format changes float rounding, not the network."
    )
    table = "| learner | NCHW (s) | channels_last (s) | speed-up of channels_last | the verifier trains it in |"
    return "\n".join(
        ["# Memory format of the verifier's learners: measured", "", "Command: `python benchmarks/memory_format.py`  ",
         head, "", table, "|---|---|---|---|---|", *rows, "", note, ""]
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "memory_format.md")
    args = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(IMAGES, *SHAPE, generator=g), torch.randint(0, CLASSES, (IMAGES,), generator=g)
    test = torch.randn(SCORED, *SHAPE, generator=g)
    rows = []
    for arch, entry in ZOO.items():
        t = {
            name: statistics.median(cell(arch, layout, x, y, test) for _ in range(3))
            for name, layout in (("nchw", torch.contiguous_format), ("cl", torch.channels_last))
        }
        speed = t["nchw"] / t["cl"]
        flag = "channels_last" if entry.channels_last else "default"
        rows.append(f"| {arch} | {t['nchw']:.2f} | {t['cl']:.2f} | {speed:.2f}x | {flag} |")
        print(rows[-1], flush=True)
    args.out.write_text(render(rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
