"""Split-Fashion-MNIST benchmark (full size, offline): generate, verify, a static ConvNet-3 score, publish, reload.

    python benchmarks/split_fashion_mnist.py --work runs/fashion                  # 3 generation seeds
    python benchmarks/split_fashion_mnist.py --work runs/fashion --gen-seeds 1 --ver-seeds 2 --no-references

Needs Fashion-MNIST's idx files: `apt-get install dataset-fashion-mnist` (as root), or `--data-dir DIR`.
Each phase keeps its result in ``--work`` and is skipped when it is there (a stopped run resumes):

- generate: ``synthgen generate --preset fashion-mnist --seed S`` (5 tasks of 2 classes, class-incremental,
  10 images per class), timed from outside (wall time, peak RSS);
- verify: ``synthgen verify --config`` on the generation pool and held-out families (VERIFY); with
  ``--references`` also Replay-N / Replay-5N and the joint bound, one seed, at the verifier's budgets for a
  full-size task (one epoch per task: VerifyConfig.reference_images);
- convnet3: the sequence on ConvNet-3 at width 128 (the distillation literature's network), one seed;
- static: a fresh ConvNet-3 (width 128) trained on the 100 images jointly, the literature's evaluation (SGD
  momentum 0.9, lr 0.01 divided by 10 at half time, DSA's augmentation), next to DC / DSA / IDC / KIP's figures;
- hub: the seed-0 artifact exported, published to a hub on 127.0.0.1 (tests/hub_servers.py), pulled back with
  ``datasets.load_dataset``.

The table goes into docs/benchmarks.md between its ``fashion-mnist`` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _sections import marks, write_section  # noqa: E402

from benchmarks.split_mnist import CACHE, bench_args, timed, work_folder  # noqa: E402

HELDOUT = ["cnn", "cnn_bn", "lenet", "convnet3_s"]
VERIFY = {"heldout": HELDOUT, "memory_free": False}
PUBLISHED = {"DC": 82.3, "DSA": 84.6, "IDC": 86.0, "KIP": 86.8}  # 10 images/class, ConvNet-3, trained jointly
STATIC_EPOCHS = 1000  # DSA and DM evaluate their images this long under DSA augmentation (epoch_eval_train)
SECTION = "fashion-mnist"  # its section of docs/benchmarks.md
MARKS = marks(SECTION)


def synthgen_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "synthgen", *args]


def phase_generate(work: Path, seed: int, data_dir: list[str]) -> None:
    out = work / f"seed{seed}.safetensors"
    if out.exists():
        return
    cmd = synthgen_cli("generate", "--preset", "fashion-mnist", "--seed", str(seed), "--out", str(out), *data_dir)
    wall, rss = timed(cmd, work / f"generate{seed}.log")
    (work / f"seed{seed}.generate.json").write_text(json.dumps({"wall_s": wall, "rss_mb": rss}))


def phase_verify(work: Path, seed: int, ver_seeds: int, references: bool, data_dir: list[str]) -> None:
    """Seed 0's verify starts from an empty cache (``<work>/verify-cache``); the others reuse its peer cells."""
    cert = work / f"seed{seed}.certificate.json"
    if cert.exists():
        return
    if seed == 0:
        shutil.rmtree(work / CACHE, ignore_errors=True)
    cfg = {**VERIFY, "seeds": list(range(ver_seeds)), "replay": references, "joint": references}
    (work / "verify.json").write_text(json.dumps(cfg))
    cmd = synthgen_cli("verify", str(work / f"seed{seed}.safetensors"), "--config", str(work / "verify.json"),
                       "--certificate", str(cert), *data_dir)  # fmt: skip
    wall, rss = timed(cmd, work / f"verify{seed}.log")
    (work / f"seed{seed}.verify.json").write_text(json.dumps({"wall_s": wall, "rss_mb": rss}))


def phase_convnet3(work: Path, data_dir: str | None) -> None:
    """The sequence on ConvNet-3 at width 128 with the judged peers, one seed (seed 0's artifact)."""
    out = work / "seed0.convnet3.json"
    if out.exists():
        return
    import synthgen
    from synthgen.verification.config import VerifyConfig

    cfg = VerifyConfig(seeds=(0,), archs=("convnet3",), heldout=(), replay=False, joint=False, memory_free=False,
                       peer_lrs=(1e-3,), gdumb_epochs=(100,))  # fmt: skip
    t0 = time.perf_counter()
    cert = synthgen.verify(synthgen.load(work / "seed0.safetensors"), cfg, cache=False, data_dir=data_dir)
    r = cert.learners["convnet3"].methods
    out.write_text(json.dumps({k: v.acc for k, v in r.items()} | {"seconds": time.perf_counter() - t0}))


def phase_static(work: Path, data_dir: str | None, epochs: int = STATIC_EPOCHS) -> None:
    """ConvNet-3 (width 128) trained on the 100 images at once, scored on the 10,000 test images."""
    out = work / "seed0.static.json"
    if out.exists():
        return
    import synthgen

    art = synthgen.load(work / "seed0.safetensors")
    x_test, y_test = fashion_test(data_dir, art.metadata["source"]["normalisation"])
    targets = art.soft_labels if art.soft_labels is not None else torch.nn.functional.one_hot(art.labels, 10).float()
    t0 = time.perf_counter()
    acc = static_score(art.images, targets, x_test, y_test, epochs)
    out.write_text(json.dumps({"acc": acc, "epochs": epochs, "seconds": time.perf_counter() - t0}))


def fashion_test(data_dir: str | None, norm: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST's 10,000 test images, normalised by ``norm``, and their labels."""
    from synthgen.data.config import SourceConfig
    from synthgen.data.sources import load_source, normalise

    x_test, y_test = load_source(SourceConfig(name="fashion-mnist", data_dir=data_dir)).split("test")
    return normalise(x_test, norm), y_test


def static_score(
    images: torch.Tensor, targets: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor, epochs: int = STATIC_EPOCHS
) -> float:
    """The literature's static evaluation: a fresh ConvNet-3 (width 128) trained on ``images`` (one batch per epoch;
    SGD momentum 0.9, lr 0.01 divided by 10 at half time, DSA's augmentation: one family per batch, as DSA's
    evaluation draws it), its accuracy on the test set."""
    from synthgen.nn.augment import dsa_augment
    from synthgen.nn.consumer import predict
    from synthgen.nn.inner_loop import soft_cross_entropy
    from synthgen.nn.learners import build_learner

    model = build_learner("convnet3", tuple(images.shape[1:]), 10, 0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [epochs // 2], 0.1)
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        opt.zero_grad()
        soft_cross_entropy(model(dsa_augment(images, g)), targets).backward()
        opt.step()
        sched.step()
    return float((predict(model, x_test).argmax(1) == y_test).float().mean())


def phase_hub(work: Path) -> None:
    """Export seed 0, publish it to a hub on 127.0.0.1, load task 1 back with datasets.load_dataset."""
    out = work / "seed0.hub.json"
    if out.exists():
        return
    import synthgen
    from tests.hub_servers import SECRET, running_hub

    folder = synthgen.export(work / "seed0.safetensors", work / "seed0_hf")
    with running_hub(work.resolve() / "hub") as hub:  # the servers run in their own folders
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(HF_ENDPOINT=hub.write_url, HF_TOKEN=SECRET, HF_HOME=str(work / "hf-home"))
        subprocess.run(synthgen_cli("publish", str(folder), "--repo", "bench/fashion"), env=env, check=True)
        env.update(HF_ENDPOINT=hub.read_url, HF_HOME=str(work / "hf-fresh"))
        env.pop("HF_TOKEN")
        script = ("import datasets, json; d = datasets.load_dataset('bench/fashion', 'task_1', split='train'); "
                  "print(json.dumps({'rows': len(d), 'labels': sorted(set(d['label']))}))")  # fmt: skip
        got = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    out.write_text(got.stdout.strip().splitlines()[-1])


def render(work: Path, seeds: int, note: str = "") -> str:
    """The Fashion-MNIST section of docs/benchmarks.md from the files in ``work``."""
    import synthgen
    from synthgen.format.certificate import CERTIFIED, load_certificate
    from synthgen.nn.learners import family_of
    from synthgen.verification.lineup import feature_archs
    from synthgen.verification.methods import SYNTHETIC, judged_peers, random_real

    certs = [load_certificate(work / f"seed{s}.certificate.json") for s in range(seeds)]
    gens = [json.loads((work / f"seed{s}.generate.json").read_text()) for s in range(seeds)]
    vers = [json.loads((work / f"seed{s}.verify.json").read_text()) for s in range(seeds)]
    n, order = certs[0].images, {"generation": 0, "heldout": 1, "user": 2}
    learners = sorted(certs[0].learners, key=lambda a: (order[certs[0].learners[a].group], a))
    shaped = {family_of(a) for a in feature_archs(synthgen.load(work / "seed0.safetensors"))}
    marked = {a for a in learners if certs[0].learners[a].group == "heldout" and family_of(a) in shaped}
    judged = [p.name for p in judged_peers(n) if p.name in certs[0].learners[learners[0]].methods]
    refs = [
        m for m in ("Replay-100", "Replay-500", "joint (upper bound)") if m in certs[0].learners[learners[0]].methods
    ]

    def mean(arch: str, name: str, field: str = "acc") -> float:
        return statistics.mean(getattr(c.learners[arch].methods[name], field) for c in certs)

    with_joint = certs[0].learners[learners[0]].methods[SYNTHETIC.name].forgetting_beyond_joint is not None
    beyond = ["forgetting_beyond_joint"] if with_joint else []  # the verdict's forgetting (a joint bound ran)
    head = ["learner", "group", "final ACC", "min seen", "avg incr.", "max forg.", *(["beyond joint"] * with_joint),
            *judged, f"gain over {random_real(n).name}", *refs]  # fmt: skip
    lines = [
        MARKS[0],
        "# Benchmarks: Split-Fashion-MNIST, full size",
        "",
        f"Command: `python benchmarks/split_fashion_mnist.py --work {work} --gen-seeds {seeds} "
        f"--ver-seeds {len(certs[0].seeds)}{'' if refs else ' --no-references'}`  ",
        f"60,000 training and 10,000 test images (the Debian package `dataset-fashion-mnist`), 5 tasks of 2 classes, "
        f"class-incremental, {n} synthetic images; `--preset fashion-mnist`; {seeds} generation seed(s) x "
        f"{len(certs[0].seeds)} verification seeds, mean over the generation seeds.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for a in learners:
        s = certs[0].learners[a]
        row = [a, f"{s.group} *" if a in marked else s.group, f"**{mean(a, SYNTHETIC.name):.3f}**"]
        fields = ("min_seen", "avg_incremental", "max_forgetting", *beyond)
        row += [f"{mean(a, SYNTHETIC.name, f):.3f}" for f in fields]
        row += [f"{mean(a, p):.3f}" for p in judged]
        row += [f"{mean(a, SYNTHETIC.name) - mean(a, random_real(n).name):+.3f}"]
        row += [f"{mean(a, r):.3f}" for r in refs]
        lines.append("| " + " | ".join(row) + " |")
    if marked:
        lines += ["", "\\* not trained in generation, but its family's random networks shaped the images' start "
                  "(`init dm`: distribution matching under random ConvNet-3s, as DM does)."]  # fmt: skip
    if beyond:
        lines += ["", "Max forgetting: the largest drop of a task's accuracy from its best; beyond joint: the "
                  "largest drop beyond the joint bound's drop on the same task (a fresh learner per prefix, so its "
                  "drop is the confusion that new classes bring), which the verdict bounds "
                  "(docs/verification.md)."]  # fmt: skip
    certified = [s for s, c in enumerate(certs) if c.verdict == CERTIFIED]
    lines += ["", f"Verdict: {len(certified)} of {seeds} generation seeds certified"
              + (f" ({', '.join(map(str, certified))})." if certified else ".")]  # fmt: skip
    warm = ""
    if len(vers) > 1:
        cached = statistics.median(v["wall_s"] for v in vers[1:])
        warm = f"; seeds 1-{len(vers) - 1}, the peers cached: median {cached:.0f} s"
    lines += ["", f"Generation: median {statistics.median(g['wall_s'] for g in gens):.0f} s wall, peak RSS "
              f"{statistics.median(g['rss_mb'] for g in gens) / 1024:.2f} GB; verify of the grid above: seed 0 "
              f"{vers[0]['wall_s']:.0f} s with an empty cache{warm}."]  # fmt: skip
    if refs:
        protocol = certs[0].raw["protocol"]
        lines += ["", f"References ({', '.join(refs)}; not judged): one verification seed, trained on the whole real "
                  f"stream, the lr chosen on validation; Replay {protocol['peers']['replay_epochs'][0]} epoch(s) per "
                  f"task, the joint bound {protocol['joint']['epochs']} epoch(s) over the tasks seen so far (the "
                  "verifier's defaults, cut to the task size: docs/verification.md)."]  # fmt: skip
    lines += [note] if note else []
    if (work / "seed0.convnet3.json").exists():
        c3 = json.loads((work / "seed0.convnet3.json").read_text())
        peers = ", ".join(f"{k} {v:.3f}" for k, v in c3.items() if k not in ("synthetic", "seconds"))
        lines += ["", f"ConvNet-3 at width 128, in sequence (seed 0's data, 1 verification seed): synthetic "
                  f"**{c3['synthetic']:.3f}**; {peers} ({c3['seconds']:.0f} s)."]  # fmt: skip
    if (work / "seed0.static.json").exists():
        st = json.loads((work / "seed0.static.json").read_text())
        pub = ", ".join(f"{k} {v}" for k, v in PUBLISHED.items())
        lines += ["", f"Static evaluation (seed 0's 100 images trained jointly, not in sequence; ConvNet-3 width "
                  f"128, {st['epochs']} epochs, DSA's augmentation, one run): **{100 * st['acc']:.1f}**. "
                  f"Published at 10 images/class on full Fashion-MNIST, ConvNet-3: {pub} (DC/DSA and IDC READMEs, "
                  "KIP's paper)."]  # fmt: skip
    if (work / "seed0.hub.json").exists():
        hub = json.loads((work / "seed0.hub.json").read_text())
        lines += ["", f"Hub: seed 0 exported, published to a hub on 127.0.0.1 and read back with "
                  f"`datasets.load_dataset(repo, 'task_1')`: {hub['rows']} rows, labels {hub['labels']}."]  # fmt: skip
    return "\n".join([*lines, MARKS[1]]) + "\n"


def main() -> None:
    ap = bench_args(__doc__, "runs/fashion")
    ap.add_argument("--ver-seeds", type=int, default=5)
    ap.add_argument("--data-dir", default=None, help="Fashion-MNIST's idx files (default: the Debian package's)")
    ap.add_argument("--references", action=argparse.BooleanOptionalAction, default=True,
                    help="also Replay-N, Replay-5N and the joint bound (one epoch per task at full size)")  # fmt: skip
    args = ap.parse_args()
    work = work_folder(args.work)
    data_dir = ["--data-dir", args.data_dir] if args.data_dir else []
    if not args.render:
        for s in range(args.gen_seeds):
            phase_generate(work, s, data_dir)
            phase_verify(work, s, args.ver_seeds, args.references, data_dir)
        phase_static(work, args.data_dir)
        phase_hub(work)
        phase_convnet3(work, args.data_dir)
    text = render(work, args.gen_seeds, args.note)
    write_section(Path(args.out), SECTION, text)
    print(text)


if __name__ == "__main__":
    main()
