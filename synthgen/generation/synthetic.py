"""What is learned for each task: its pixels, their soft labels, and the recipe's lr.

``SyntheticTask.materialize()`` turns the learnable state into the ``SynthBatch`` the inner
loop trains on; the artifact stores exactly those images, targets and lrs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from synthgen.core.seeding import generator
from synthgen.nn.inner_loop import SynthBatch

LABEL_INIT_PROB = 0.9  # initial soft-label mass on the image's own class


class SyntheticTask(nn.Module):
    """Learnable synthetic data of one task."""

    def __init__(
        self,
        classes: tuple[int, ...],
        ipc: int,
        image_shape: tuple[int, int, int],
        num_classes: int,
        init_images: torch.Tensor | None = None,
        inner_lr: float = 0.02,
        soft_labels: bool = True,
        learn_lr: bool = True,
        task_incremental: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        self.classes = tuple(classes)
        n = ipc * len(classes)
        labels = torch.tensor(classes).repeat_interleave(ipc)
        self.register_buffer("labels", labels)
        mask = torch.zeros(num_classes, dtype=torch.bool)
        mask[list(classes) if task_incremental else slice(None)] = True
        self.register_buffer("class_mask", mask)
        if init_images is None:
            init_images = torch.randn(n, *image_shape, generator=generator("synthetic-task", seed))
        self.pixels = nn.Parameter(init_images.clone())
        # Soft labels: logits that give LABEL_INIT_PROB to the own class, the rest spread evenly.
        k = int(mask.sum())
        on = math.log(LABEL_INIT_PROB * max(k - 1, 1) / (1 - LABEL_INIT_PROB)) if k > 1 else 0.0
        logits = F.one_hot(labels, num_classes).float() * on
        self.label_logits = nn.Parameter(logits, requires_grad=soft_labels)
        self.log_lr = nn.Parameter(torch.tensor(math.log(inner_lr)), requires_grad=learn_lr)
        self.soft_labels = soft_labels

    def images(self) -> torch.Tensor:
        """Current synthetic images [n, C, H, W] (normalised space)."""
        return self.pixels

    def targets(self) -> torch.Tensor:
        """Training targets [n, classes]: softmax of the label logits (one-hot if not learned)."""
        if not self.soft_labels:
            return F.one_hot(self.labels, self.class_mask.numel()).float()
        return torch.softmax(self.label_logits.masked_fill(~self.class_mask, -1e9), dim=-1)

    def lr(self) -> torch.Tensor:
        return self.log_lr.exp()

    def materialize(self, detach: bool = False) -> SynthBatch:
        """The batch the inner loop trains on (detached once the task is frozen)."""
        b = SynthBatch(
            self.images(), self.targets(), self.lr(), None if bool(self.class_mask.all()) else self.class_mask
        )
        return b.detached() if detach else b

    def param_groups(self, outer_lr: float, label_lr: float, lr_lr: float | None) -> list[dict]:
        """Adam parameter groups with one learning rate per kind of variable (``lr_lr`` None: the lr is kept)."""
        groups = [{"params": [self.pixels], "lr": outer_lr}]
        if self.label_logits.requires_grad:
            groups.append({"params": [self.label_logits], "lr": label_lr})
        if self.log_lr.requires_grad and lr_lr is not None:
            groups.append({"params": [self.log_lr], "lr": lr_lr})
        return groups
