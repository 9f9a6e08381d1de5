"""Outer steps per second with 1 vs 2 processes (torchrun, gloo) on this machine.

    python benchmarks/scaling.py [--steps 150] [--inits 4]     # prints a table, writes docs/scaling_bench.md

Runs the real CLI (`synthgen generate --nproc N`) on mnist-5k with the default recipe, one
torch thread per process, the same total learner initialisations per step, and reads the
engine's own timing from its output.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(nproc: int, steps: int, inits: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "synthgen",
            "generate",
            "--out",
            f"{tmp}/a.safetensors",
            "--steps",
            str(steps),
            "--inits",
            str(inits),
            "--nproc",
            str(nproc),
            "--threads",
            "1",
            "--checkpoint-every",
            "0",
        ]
        t0 = time.perf_counter()
        out = subprocess.run(
            cmd, capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
        ).stdout
        wall = time.perf_counter() - t0
    engine_s = float(re.search(r"time: ([\d.]+) s", out).group(1))
    return engine_s, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--inits", type=int, default=4)
    ap.add_argument("--out", default="docs/scaling_bench.md")
    args = ap.parse_args()
    rows = []
    for n in (1, 2):
        engine_s, wall = run(n, args.steps, args.inits)
        rows.append((n, engine_s, wall))
        print(
            f"{n} process(es): {args.steps / engine_s:.2f} outer steps/s (engine {engine_s:.1f} s, wall {wall:.1f} s)",
            flush=True,
        )
    base = rows[0][1]
    lines = [
        "# Scaling on this machine: 1 vs 2 processes",
        "",
        f"Command: `python {' '.join(sys.argv)}`  ",
        f"Machine: {platform.machine()}, 2 cores, 1 torch thread per process; mnist-5k, default recipe, "
        f"{args.steps} outer steps, {args.inits} learner inits per step in total.",
        "",
        "| processes | outer steps/s | speed-up | engine time (s) | wall time incl. start-up (s) |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {args.steps / e:.2f} | {base / e:.2f}x | {e:.1f} | {w:.1f} |" for n, e, w in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
