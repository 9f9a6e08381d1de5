"""The dataset card: YAML front matter the hub and `datasets` read, and generated prose."""

from __future__ import annotations

import json

from synthgen.core.version import versions
from synthgen.data.tasks import TASK_INCREMENTAL
from synthgen.format.certificate import Certificate
from synthgen.format.recipe import dsa_of, optimiser_of, shift_of
from synthgen.nn.inner_loop import MASKED
from synthgen.verification.methods import (
    JOINT,
    MEMORY_FREE,
    SYNTHETIC,
    alternatives,
    judged_peers,
    method_order,
    random_real,
)

LICENSES = {
    "mnist-5k": "cc-by-sa-3.0",
    "mnist": "cc-by-sa-3.0",
    "digits": "cc-by-4.0",
    "fashion-mnist": "mit",
    "kmnist": "cc-by-sa-4.0",
    "cifar10": "other",
}


def optimiser_code(recipe: dict) -> str:
    """The ``torch.optim`` constructor a consumer writes for one task, as Python source (lr named ``lr``)."""
    opt = optimiser_of(recipe)
    if opt.kind == "adam":
        return f"torch.optim.Adam(model.parameters(), lr=lr, betas={tuple(opt.betas)!r}, eps={opt.eps!r})"
    return f"torch.optim.SGD(model.parameters(), lr=lr, momentum={opt.momentum!r})"


def _size_category(n: int) -> str:
    return "n<1K" if n < 1_000 else "1K<n<10K" if n < 10_000 else "10K<n<100K" if n < 100_000 else "100K<n<1M"


def card_data(meta: dict, feats, sizes: dict[int, tuple[int, int]]):
    """huggingface_hub.DatasetCardData with configs (task_k + all, default) and dataset_info."""
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from huggingface_hub import DatasetCardData

    n_total = sum(n for n, _ in sizes.values())
    data = DatasetCardData(
        license=LICENSES.get(meta["source"]["name"], "other"),
        pretty_name=f"synthgen {meta['source']['name']} {meta.get('task_split', '')}",
        tags=["synthetic", "continual-learning", "dataset-distillation", "synthgen"],
        task_categories=["image-classification"],
        size_categories=[_size_category(n_total)],
    )
    configs = [
        {"config_name": "all", "data_files": [{"split": "train", "path": "data/task_*/*.parquet"}], "default": True}
    ]
    configs += [
        {"config_name": f"task_{k}", "data_files": [{"split": "train", "path": f"data/task_{k}/*.parquet"}]}
        for k in sorted(sizes)
    ]
    data["configs"] = configs
    infos = {}
    for name, keys in [("all", list(sizes))] + [(f"task_{k}", [k]) for k in sorted(sizes)]:
        n, b = sum(sizes[k][0] for k in keys), sum(sizes[k][1] for k in keys)
        splits = SplitDict()
        splits.add(SplitInfo(name="train", num_bytes=b, num_examples=n))
        infos[name] = DatasetInfo(features=feats, splits=splits, dataset_size=b, config_name=name)
    DatasetInfosDict(infos).to_dataset_card_data(data)
    return data


# the verifier's learner groups, in the order tables list them, and what each says of the data
GROUP_NAMES = {
    "generation": "made for (used in generation)",
    "heldout": "checked on (held-out zoo families)",
    "user": "checked on (the user's own networks)",
}


def peer_table(cert: Certificate) -> list[str]:
    """Markdown rows: per learner, the synthetic data next to what a user holding as many real images would
    train (judged), its gain over random real images, and the references (Replay, the joint bound)."""
    ran = {name for r in cert.learners.values() for name in r.methods}
    judged = [p.name for p in judged_peers(cert.images) if p.name in ran]
    refs = [*(p.name for p in alternatives(cert.images) if p.name not in judged and p.name in ran), JOINT.name]
    gain = f"gain over {random_real(cert.images).name}"
    head = ["arch", "group", "params", "synthetic: final ACC", "min over steps", gain, *judged, *refs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = {g: i for i, g in enumerate(GROUP_NAMES)}
    for r in sorted(cert.learners.values(), key=lambda r: (order.get(r.group, len(order)), r.arch)):
        m, s = r.methods, r.methods[SYNTHETIC.name]
        lead = s.lead.get(random_real(cert.images).name)
        cells = [
            r.arch,
            r.group,
            f"{r.params:,}",
            f"**{s.acc:.3f}** ± {s.acc_std:.3f}",
            f"{s.min_seen:.3f}",
            f"{lead.mean:+.3f}" if lead else "-",
        ]
        cells += [f"{m[p].acc:.3f}" if p in m else "-" for p in [*judged, *refs]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def families_line(cert: Certificate) -> str:
    """Which learners the data was made for and which it was checked on."""
    groups: dict[str, list[str]] = {g: [] for g in GROUP_NAMES}
    for r in cert.learners.values():
        groups[r.group].append(r.arch)
    return "; ".join(f"{GROUP_NAMES[g]}: {', '.join(archs)}" for g, archs in groups.items() if archs)


def _verification(embedded: dict | None) -> str:
    if not embedded:
        return "Not verified yet: run `synthgen verify` and export again to add the certificate.\n"
    cert = Certificate.from_dict(embedded)
    n = cert.images
    seeds, fewer = list(cert.seeds), {}  # the seeds of the methods run on fewer (the references, the joint bound)
    for method in method_order(n):
        runs = [r.methods[method.name] for r in cert.learners.values() if method.name in r.methods]
        if runs and list(runs[0].seeds) != seeds:
            fewer.setdefault(tuple(runs[0].seeds), []).append(method.name)
    note = "".join(f"; {', '.join(names)} on seeds {list(used)}" for used, names in fewer.items())
    memory_free = [m.name for m in MEMORY_FREE if any(m.name in r.methods for r in cert.learners.values())]
    lines = [
        f"**Verdict: {cert.verdict.upper()}** (certificate `certificate.json`, "
        f"seeds {seeds}{note}, evaluated in `eval()` mode on the real test split after every task).",
        "",
        families_line(cert) + ".",
        "",
        f"Judged against what a user holding {n} real images would train instead: {n} real images chosen at "
        f"random (Random-{n}) or by herding (Herding-{n}) and trained by this dataset's own recipe, and GDumb-{n}. "
        f"References, not judged: Replay-{n} and Replay-{5 * n}, which learn from the whole real stream, and "
        "the joint bound."
        + (
            f" Made without rehearsal, it is also judged against {', '.join(memory_free[1:])}, which learn the real "
            f"tasks in sequence keeping no data ({memory_free[0]} is their lower bound)."
            if memory_free
            else ""
        ),
        "",
        *peer_table(cert),
        "",
        *[f"- {reason}" for reason in cert.reasons],
        *[f"- reference: {line}" for line in cert.references],
    ]
    return "\n".join(lines) + "\n"


SETTINGS = {  # which setting the data was made for, in one sentence
    True: "Made for a learner that rehearses: task k trains on the synthetic images of tasks 0..k together.",
    False: "Made for a learner with no memory at all: task k trains on task k's synthetic images alone.",
}


def render_card(meta: dict, feats, sizes: dict[int, tuple[int, int]], images: dict[str, str]) -> str:
    """The README.md of an export folder."""
    from huggingface_hub import DatasetCard

    src, rec, gen = meta["source"], meta["recipe"], meta.get("generation", {})
    rehearse = bool(rec.get("rehearsal", False))
    task_il = meta["scenario"] == TASK_INCREMENTAL  # each image is scored on its own task's classes only
    mask_def = (
        (
            f"\ntasks = {json.dumps(meta['tasks'])}\nallowed = torch.zeros(len(tasks), {len(src['class_names'])}, "
            "dtype=torch.bool)  # task-incremental: each task's classes\nfor t, classes in enumerate(tasks):\n"
            "    allowed[t, classes] = True"
        )
        if task_il
        else ""
    )
    mask_of_batch = '\n    mask = allowed[ds["task"][keep]]' if task_il else ""
    shift, dsa = shift_of(rec), dsa_of(rec)
    seen = "xb" if shift or dsa else "x"  # what each step trains on: the images, shifted and augmented per the recipe
    logits = f"model({seen}).masked_fill(~mask, {MASKED:.0e})" if task_il else f"model({seen})"  # the verifier's mask
    crop_def = (
        f'\ncrop = v2.RandomCrop({src["image_shape"][1:]}, padding={shift}, padding_mode="edge")  # each step'
        if shift
        else ""
    )
    aug_import = ("\nfrom torchvision.transforms import v2" if shift else "") + (
        "\nfrom synthgen.nn.augment import NO_FLIP_FAMILIES, dsa_augment" if dsa else ""
    )
    aug_step = (
        "\n        xb = torch.stack([crop(img) for img in x])  # a new offset per image and step" if shift else ""
    ) + (
        f"\n        xb = dsa_augment({'xb' if shift else 'x'}, None, NO_FLIP_FAMILIES)  # DSA, each step" if dsa else ""
    )
    opt = optimiser_of(rec)
    clip, cosine = opt.clip, opt.cosine
    clip_step = f"\n        torch.nn.utils.clip_grad_norm_(model.parameters(), {clip!r})" if clip else ""
    schedule_def = (
        f"\n    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, {rec['steps_per_task']})  # lr to 0 per task"
        if cosine
        else ""
    )
    schedule_step = "\n        schedule.step()" if cosine else ""
    names = src["class_names"]
    tasks = "\n".join(
        f"| {k} | {', '.join(names[c] for c in t)} | {sizes[k][0]} | {rec['lr_per_task'][k]:.4f} |"
        for k, t in enumerate(meta["tasks"])
    )
    pics = "\n".join(f"![{name}]({path})" for name, path in images.items())
    body = f"""
# Synthetic continual-learning data: {src["name"]}, tasks {meta.get("task_split", "")}

Made by synthgen {meta.get("versions", {}).get("synthgen", "")}: a few synthetic images
per class, learned so that a network trained on the tasks **in sequence** does not forget the
earlier ones (method: arXiv 2004.14046). Scenario: **{meta["scenario"]}**. {SETTINGS[rehearse]}

## Source and split
Real data: `{src["name"]}` ({len(names)} classes, images {"x".join(map(str, src["image_shape"]))}). Split:
{src.get("split", {}).get("rule", "")}; counts {src.get("split", {}).get("counts")}; seed {
        src.get("split", {}).get("seed")
    }.
Images are stored normalised: a real uint8 image `x` maps to `(x/{src["normalisation"]["scale"]:g} - mean)/std` with
mean {src["normalisation"]["mean"]} and std {src["normalisation"]["std"]}.

| task | classes | images | lr |
|---|---|---|---|
{tasks}

## Recipe (how to train on it)
Train a fresh network on task 0, then task 1, ...: `{optimiser_code(rec)}` with the task's lr
(a fresh optimiser per task), {rec["steps_per_task"]} steps per task in `model.train()` mode, each step on all images
{"of tasks 0..k together while training task k (synthetic rehearsal)" if rehearse else "of the task"} (`pixels`){
        f", each image moved by its own random offset of up to {shift} pixels at every step (edge padding)"
        if shift
        else ""
    }{", then augmented by DSA's transformations (`recipe.augmentation`)" if dsa else ""}{
        f", the gradient clipped to L2 norm {clip:g} before each step" if clip else ""
    }{
        ", the lr annealed towards 0 over the task's steps (`CosineAnnealingLR`, `recipe.lr_schedule`)"
        if cosine
        else ""
    };
predict in `model.eval()` mode (BatchNorm uses its running statistics). Loss =
cross-entropy against `{"soft_label" if rec.get("targets") == "soft_labels" else "label"}`.

```python
import torch
from datasets import load_dataset{aug_import}

lrs = {json.dumps(rec["lr_per_task"])}{mask_def}{crop_def}
model = ...  # e.g. a 784-100-10 MLP
ds = load_dataset("REPO_ID_OR_FOLDER", "all", split="train").with_format("torch")[:]
for k, lr in enumerate(lrs):
    keep = ds["task"] {"<=" if rehearse else "=="} k
    x, targets = ds["pixels"][keep], ds["soft_label"][keep]{mask_of_batch}
    opt = {optimiser_code(rec)}{schedule_def}
    model.train()
    for _ in range({rec["steps_per_task"]}):{aug_step}
        opt.zero_grad()
        (-(targets * torch.log_softmax({logits}, 1)).sum(1).mean()).backward(){clip_step}
        opt.step(){schedule_step}
```
{
        f"Predict task k with `model(x).masked_fill(~allowed[k], {MASKED:.0e})` (task-incremental: the task is known)."
        if task_il
        else ""
    }

Configs: `all` (default) and `task_0` .. `task_{len(meta["tasks"]) - 1}`. Columns: `pixels` (exact float32
training tensor), `image` (PNG preview, quantised: do not train on it), `label`, `task`, `soft_label`.

## Verification
{_verification(meta.get("certificate"))}
{pics}

## Provenance
- generated with: {gen.get("ipc")} images/class, learners {gen.get("archs")},
  {gen.get("outer_steps")} outer steps, seed {gen.get("seed")}, {gen.get("wall_time_s")} s
- versions at generation: {json.dumps(meta.get("versions", {}))}; card written by {json.dumps(versions())}
- tensor sha256: `{meta["sha256"]}` (also in `synthgen.json`; `synthgen pull` checks it)
"""
    return str(DatasetCard(f"---\n{card_data(meta, feats, sizes).to_yaml()}\n---\n{body}"))
