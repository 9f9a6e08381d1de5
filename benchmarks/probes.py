"""Small measurements quoted in docs/research.md, each in a fresh process, 1 torch thread.

    python benchmarks/probes.py

- rss: peak RSS after `import torch`, after importing the CLI, after the first torch.func.grad call
  (with and without triton, which that call imports unless the CLI keeps it out);
- step: ms per outer step on the last task stage (replay pool warm, default config);
- joint: peak RSS growth of a convpool joint-training baseline (the verifier's largest job);
- stages: peak and current RSS at the start of each stage of a whole default generation (about 3 minutes).

    python benchmarks/probes.py --only stages    # one probe
"""

from __future__ import annotations

import argparse
import subprocess
import sys

RSS = """
import resource, torch
mb = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
out = {"import torch": mb()}
import synthgen.cli.main
out["import synthgen.cli.main"] = mb()
if KEEP_TRITON_OUT:  # what the synthgen command does (synthgen.cli.main.keep_triton_out)
    synthgen.cli.main.keep_triton_out()
from torch.func import functional_call, grad
m = torch.nn.Linear(4, 2)
grad(lambda p: functional_call(m, p, (torch.randn(3, 4),)).sum())(dict(m.named_parameters()))
out["first torch.func.grad" + (" (triton kept out, as the CLI does)" if KEEP_TRITON_OUT else "")] = mb()
print(json.dumps(out))
"""

STEP = """
import time, torch
torch.set_num_threads(1)
from synthgen.generation.config import GenerateConfig
from synthgen.generation.engine import Engine
e = Engine(GenerateConfig(device="cpu", checkpoint_every=0, eval_every=0))
out = {}
for st, name in ((4, "last task stage (pool warm), ms"),):
    e.stage, e.stage_step = st, 0
    e.opt = e._make_optimizer(e.stages[st])
    for _ in range(3):
        e.step(); e.stage_step += 1
    t0 = time.perf_counter()
    for _ in range(20):
        e.step(); e.stage_step += 1
    out[name] = round((time.perf_counter() - t0) / 20 * 1000)
print(json.dumps(out))
"""

JOINT = """
import resource, torch
torch.set_num_threads(1)
mb = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
from synthgen.verification.runs import joint_accuracy
from synthgen.data.sources import load_source
src = load_source("mnist-5k")
tasks = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
joint_accuracy(src, tasks, src.normalisation(), "mlp", 0, epochs=1)  # warm the runtime
before = mb()
joint_accuracy(src, tasks, src.normalisation(), "convpool", 0)
print(json.dumps({"convpool joint: peak RSS before, MB": before, "after, MB": mb()}))
"""

STAGES = """
import resource
mb = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
now = lambda: int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() // 2**20
from synthgen.generation.config import GenerateConfig
from synthgen.generation.engine import Engine
e = Engine(GenerateConfig(device="cpu", checkpoint_every=0))
out = {"after Engine(): peak / current MB": [mb(), now()]}
def on_step(i):
    if i.stage_step == 1:
        out[f"stage {i.stage} step 1: peak / current MB"] = [mb(), now()]
e.run(on_step)
out["end: peak / current MB"] = [mb(), now()]
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("rss", "step", "joint", "stages"), help="run this probe alone")
    args = ap.parse_args()
    probes = (
        ("rss", "KEEP_TRITON_OUT = False\n" + RSS),
        ("rss", "KEEP_TRITON_OUT = True\n" + RSS),
        ("step", STEP),
        ("joint", JOINT),
        ("stages", STAGES),
    )
    for name, code in probes:
        if args.only and name != args.only:
            continue
        out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, check=True)
        print(name, out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
