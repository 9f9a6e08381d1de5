"""Pictures a person would rather look at: sample grids and accuracy-matrix heatmaps."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from synthgen.core.io import atomic_write
from synthgen.format.certificate import Certificate


def _save_figure(fig, path: str | os.PathLike) -> Path:
    import matplotlib.pyplot as plt

    out = atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return out


def _agg():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def denormalise(images: torch.Tensor, norm: dict) -> torch.Tensor:
    """Normalised images -> [0, 1] pixels (clamped) for display."""
    mean = torch.tensor(norm["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(norm["std"]).view(1, -1, 1, 1)
    return (images * std + mean).clamp(0, 1)


def sample_grid(
    images: torch.Tensor,
    task_ids: torch.Tensor,
    labels: torch.Tensor,
    norm: dict,
    class_names: Sequence[str],
    path: str | os.PathLike,
    max_per_task: int = 40,
) -> Path:
    """One row block per task (torchvision make_grid), titled with the task's classes."""
    from torchvision.utils import make_grid  # imported here, not at module load: it is heavy (RSS)

    plt = _agg()
    tasks = sorted(set(task_ids.tolist()))
    rows = max(1, -(-min(max_per_task, int(max((task_ids == t).sum() for t in tasks))) // 20))
    fig, axes = plt.subplots(len(tasks), 1, figsize=(8, (0.45 * rows + 0.3) * len(tasks)), squeeze=False)
    for ax, t in zip(axes[:, 0], tasks):
        keep = task_ids == t
        imgs = denormalise(images[keep][:max_per_task], norm)
        grid = make_grid(imgs, nrow=min(20, len(imgs)), padding=1, pad_value=1.0)
        ax.imshow(
            grid.permute(1, 2, 0).numpy().squeeze(),
            cmap="gray" if imgs.shape[1] == 1 else None,
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
        classes = sorted(set(labels[keep].tolist()))
        ax.set_title(f"task {t}: classes {', '.join(class_names[c] for c in classes)}", fontsize=9, loc="left")
        ax.axis("off")
    return _save_figure(fig, path)


def accuracy_heatmap(R: Sequence[Sequence[float]], path: str | os.PathLike, title: str = "") -> Path:
    """Heatmap of R[i][j] (rows: after task i, columns: task j) with values written in; a row shorter than the
    matrix (the tasks seen so far) leaves the later tasks blank."""
    plt = _agg()
    T = len(R)
    grid = [[R[i][j] if j < len(R[i]) else float("nan") for j in range(T)] for i in range(T)]
    fig, ax = plt.subplots(figsize=(1.1 * T + 1.5, 0.9 * T + 1.2))
    im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
    for i in range(T):
        for j in range(len(R[i])):
            ax.text(j, i, f"{R[i][j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if R[i][j] < 0.6 else "black")  # fmt: skip
    ax.set_xlabel("evaluated on task j")
    ax.set_ylabel("after training task i")
    ax.set_xticks(range(T))
    ax.set_yticks(range(T))
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save_figure(fig, path)


def accuracy_curves(curves: dict[str, Sequence[float]], path: str | os.PathLike, title: str = "") -> Path:
    """Accuracy on all tasks seen so far after each task, one line per method (paper's Fig. 1)."""
    plt = _agg()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
    ax.set_xlabel("tasks learned")
    ax.set_xticks(range(1, max(len(v) for v in curves.values()) + 1))
    ax.set_ylabel("accuracy on seen tasks")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return _save_figure(fig, path)


def per_task_bars(
    series: dict[str, Sequence[float]], task_names: Sequence[str], path: str | os.PathLike, title: str = ""
) -> Path:
    """Grouped bars: final accuracy on each task, one bar per method (e.g. synthetic vs the joint upper bound)."""
    plt = _agg()
    T, k = len(task_names), len(series)
    width = 0.8 / k
    fig, ax = plt.subplots(figsize=(1.0 * T + 2.0, 3.2))
    for n, (name, values) in enumerate(series.items()):
        xs = [t - 0.4 + width * (n + 0.5) for t in range(T)]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
    ax.set_xticks(range(T), [f"task {name}" for name in task_names], fontsize=8)
    ax.set_ylabel("final accuracy")
    ax.set_ylim(0, 1.1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=k, frameon=False)
    ax.set_title(title, fontsize=9)
    return _save_figure(fig, path)


def verification_pictures(cert: Certificate, folder: Path) -> list[Path]:
    """Per architecture: a heatmap of the synthetic data's mean accuracy matrix; the accuracy on the tasks seen
    so far after each task, the peers and the joint bound drawn beside it; and, with the joint bound, each
    task's final accuracy next to it."""
    from synthgen.data.tasks import task_label
    from synthgen.verification.methods import JOINT, SYNTHETIC, alternatives

    paths = []
    others = [*(p.name for p in alternatives(cert.images)), JOINT.name]
    for arch, r in cert.learners.items():
        s, stem = r.methods[SYNTHETIC.name], re.sub(r"[^A-Za-z0-9._-]", "_", arch)  # 'pkg.nets:build' -> a file name
        title = f"synthetic data, {arch}: accuracy after task i on task j"
        paths.append(accuracy_heatmap([list(row) for row in s.mean_matrix], folder / f"heatmap_{stem}.png", title))
        curves = {"synthetic (recipe)": list(s.seen_curve)}
        curves.update(
            {
                name: list(r.methods[name].seen_curve)
                for name in others
                if name in r.methods and r.methods[name].seen_curve
            }
        )
        paths.append(accuracy_curves(curves, folder / f"curve_{stem}.png", f"{arch}: accuracy on tasks seen so far"))
        if JOINT.name in r.methods:
            bars = {
                "synthetic, after all tasks": list(s.per_task_final),
                "joint training on all real data": list(r.methods[JOINT.name].per_task_final),
            }
            names = [task_label(t) for t in cert.tasks]
            title = f"{arch}: final accuracy per task vs the joint upper bound"
            paths.append(per_task_bars(bars, names, folder / f"tasks_{stem}.png", title))
    return paths
