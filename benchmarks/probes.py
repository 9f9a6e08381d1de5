"""Small measurements quoted in docs/research.md, each in a fresh process, 1 torch thread.

    python benchmarks/probes.py

- rss: peak RSS after `import torch`, after importing the CLI, after the first torch.func.grad call
  (with and without triton, which that call imports unless the CLI keeps it out);
- step: ms per outer step on the last task stage (replay pool warm, default config);
- joint: peak RSS growth of a convpool joint-training baseline (the verifier's largest job);
- stages: peak and current RSS at the start of each stage of a whole default generation (about 3 minutes);
- gdumb-shifts: GDumb-100's final test / validation accuracy on mnist-5k (seeds 0-2) as the verifier trains it
  and with each minibatch image shifted by up to 2 px, at the lr and epochs given (about 2 minutes);
- labels: where the default data's lead lives: the artifacts of `benchmarks/split_mnist.py --work runs/bench`
  (seeds 0-2) trained by their recipe with one-hot labels, and herded / random real images (the Herding-100 and
  Random-100 peers' picks) with the data's soft labels; 3 verification seeds (about 10 minutes).

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
from synthgen.verification.runs import RealStream, joint_accuracy
from synthgen.data.sources import load_source
src = load_source("mnist-5k")
stream = RealStream(src, [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)], src.normalisation())
joint_accuracy(stream, "mlp", 0, epochs=1)  # warm the runtime
before = mb()
joint_accuracy(stream, "convpool", 0)
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

GDUMB_SHIFTS = """
import statistics, torch
import torch.nn.functional as F
torch.set_num_threads(1)
from synthgen.data.sources import load_source
from synthgen.verification import peers, runs
src = load_source("mnist-5k")
tasks, plain = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)], peers._adam_epochs
def shifted(model, opt, x, y, epochs, batch, g, memory=None, mask_of_class=None):
    model.train()  # peers._adam_epochs for GDumb (no memory, no mask), each image shifted by up to 2 px
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(batch):
            pad, off = F.pad(x[idx], (2, 2, 2, 2)), torch.randint(0, 5, (len(idx), 2), generator=g).tolist()
            bx = torch.stack([pad[i, :, a:a + x.shape[2], b:b + x.shape[3]] for i, (a, b) in enumerate(off)])
            if len(bx) > 1:
                opt.zero_grad(); F.cross_entropy(model(bx), y[idx]).backward(); opt.step()
out = {}
for arch, lr, epochs, fn in (("cnn", 3e-3, 30, plain), ("cnn", 3e-3, 30, shifted), ("cnn", 3e-3, 100, shifted),
                             ("cnn_bn", 1e-3, 100, plain), ("cnn_bn", 1e-3, 100, shifted),
                             ("cnn_bn", 1e-3, 200, shifted), ("convnet3_s", 3e-3, 100, plain),
                             ("convnet3_s", 3e-3, 100, shifted), ("convnet3_s", 3e-3, 200, shifted),
                             ("mlp", 1e-3, 100, plain), ("mlp", 1e-3, 100, shifted)):
    peers._adam_epochs = fn
    r = [runs.peer_matrix("gdumb", runs.RealStream(src, tasks, src.normalisation()), arch, s, 100,
                          peers.PeerRecipe(lr=lr, epochs=epochs), splits=("test", "val")) for s in (0, 1, 2)]
    key = f"{arch} lr {lr:g} {epochs} epochs {'shifted' if fn is shifted else 'plain'}: test / validation"
    out[key] = [round(statistics.mean(x[k].final_acc for x in r), 3) for k in ("test", "val")]
print(json.dumps(out))
"""

LABELS = """
import statistics, torch
torch.set_num_threads(1)
from synthgen.format.artifact import Artifact, load_artifact
from synthgen.verification.lineup import source_for
from synthgen.verification.real_sets import in_place_of
from synthgen.verification.runs import evaluate_artifact
out = {}
for gen in (0, 1, 2):
    art = load_artifact(f"runs/bench/seed{gen}.safetensors")
    src = source_for(art, None)
    for arch in ("convnet_bn", "mlp", "mlp3_s", "cnn", "cnn_bn", "convnet3_s"):
        for s in (0, 1, 2):
            herd, rand = in_place_of(art, src, "herding", s), in_place_of(art, src, "random", s)
            variants = {"herding + soft labels": (herd.images, art), "random + soft labels": (rand.images, art),
                        "synthetic + one-hot": (art.images, herd)}  # the labels and recipe of the second
            for name, (images, labelled) in variants.items():
                a = Artifact(images, art.labels, art.task_ids, labelled.metadata, labelled.soft_labels)
                out.setdefault(f"{arch}: {name}", []).append(evaluate_artifact(a, src, arch, s).final_acc)
print(json.dumps({k: round(statistics.mean(v), 3) for k, v in out.items()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--only", choices=("rss", "step", "joint", "stages", "gdumb-shifts", "labels"), help="run this probe alone"
    )
    args = ap.parse_args()
    probes = (
        ("rss", "KEEP_TRITON_OUT = False\n" + RSS),
        ("rss", "KEEP_TRITON_OUT = True\n" + RSS),
        ("step", STEP),
        ("joint", JOINT),
        ("stages", STAGES),
        ("gdumb-shifts", GDUMB_SHIFTS),
        ("labels", LABELS),
    )
    for name, code in probes:
        if args.only and name != args.only:
            continue
        out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, check=True)
        print(name, out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
