"""What is learned for each task: pixels or a generator, soft labels, and an inner lr.

``SyntheticTask.materialize()`` turns the learnable state into the ``SynthBatch`` the inner
loop trains on; the artifact stores exactly those images, targets and lrs.

Pixels can be learned at a coarser grid than the image (``pixel_factor`` f > 1): the image is the
initial image's fine detail (what the coarse grid cannot express, kept fixed) plus the bilinear
upsampling of a learned H/f x W/f grid. The data then starts exactly at its initial images and
every update is smooth at the scale of f pixels.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .inner_loop import SynthBatch
from .seeding import generator

LABEL_INIT_PROB = 0.9   # initial soft-label mass on the image's own class
LATENT_DIM = 32


def upsample(grid: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear upsampling of a coarse pixel grid [n, C, h, w] to ``size``."""
    return F.interpolate(grid, size=tuple(size), mode="bilinear", align_corners=False)


class ImageGenerator(nn.Module):
    """GTN-style generator: (latent code, one-hot label) -> normalised image."""

    def __init__(self, num_classes: int, image_shape: tuple[int, int, int], hidden: int = 256):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        out = math.prod(image_shape)
        self.net = nn.Sequential(nn.Linear(LATENT_DIM + num_classes, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, out))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        return self.net(h).view(-1, *self.image_shape)


class SyntheticTask(nn.Module):
    """Learnable synthetic data of one task."""

    def __init__(self, classes: tuple[int, ...], ipc: int, image_shape: tuple[int, int, int], num_classes: int,
                 param: str = "pixels", init_images: torch.Tensor | None = None, inner_lr: float = 0.02,
                 soft_labels: bool = True, learn_lr: bool = True, task_incremental: bool = False, seed: int = 0,
                 pixel_factor: int = 1):
        super().__init__()
        if pixel_factor < 1 or (pixel_factor > 1 and param != "pixels"):
            raise ValueError(f"pixel_factor {pixel_factor} needs param='pixels' and must be >= 1")
        self.classes = tuple(classes)
        self.param = param
        self.pixel_factor = pixel_factor
        n = ipc * len(classes)
        g = generator("synthetic-task", seed)
        labels = torch.tensor(classes).repeat_interleave(ipc)
        self.register_buffer("labels", labels)
        mask = torch.zeros(num_classes, dtype=torch.bool)
        mask[list(classes) if task_incremental else slice(None)] = True
        self.register_buffer("class_mask", mask)
        start = init_images if init_images is not None else torch.randn(n, *image_shape, generator=g)
        if param == "pixels" and pixel_factor == 1:
            self.pixels = nn.Parameter(start.clone())
        elif param == "pixels":
            h, w = start.shape[-2:]
            coarse = F.adaptive_avg_pool2d(start, (math.ceil(h / pixel_factor), math.ceil(w / pixel_factor)))
            self.pixels = nn.Parameter(coarse)
            self.register_buffer("detail", start - upsample(coarse, (h, w)))
        elif param == "generator":
            self.latents = nn.Parameter(torch.randn(n, LATENT_DIM, generator=g))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
                self.gen = ImageGenerator(num_classes, image_shape)
            self._fit_generator(start)
        else:
            raise ValueError(f"unknown param {param!r}")
        # Soft labels: logits that give LABEL_INIT_PROB to the own class, the rest spread evenly.
        k = int(mask.sum())
        on = math.log(LABEL_INIT_PROB * max(k - 1, 1) / (1 - LABEL_INIT_PROB)) if k > 1 else 0.0
        logits = F.one_hot(labels, num_classes).float() * on
        self.label_logits = nn.Parameter(logits, requires_grad=soft_labels)
        self.log_lr = nn.Parameter(torch.tensor(math.log(inner_lr)), requires_grad=learn_lr)
        self.soft_labels = soft_labels

    def _fit_generator(self, target: torch.Tensor, steps: int = 300) -> None:
        """Start the generator where pixels would start: regress it onto the initial images."""
        opt = torch.optim.Adam([*self.gen.parameters(), self.latents], lr=1e-3)
        for _ in range(steps):
            opt.zero_grad()
            F.mse_loss(self.images(), target).backward()
            opt.step()

    def images(self) -> torch.Tensor:
        """Current synthetic images [n, C, H, W] (normalised space)."""
        if self.param != "pixels":
            return self.gen(self.latents, self.labels)
        if self.pixel_factor == 1:
            return self.pixels
        return self.detail + upsample(self.pixels, self.detail.shape[-2:])

    def targets(self) -> torch.Tensor:
        """Training targets [n, classes]: softmax of the label logits (one-hot if not learned)."""
        if not self.soft_labels:
            return F.one_hot(self.labels, self.class_mask.numel()).float()
        return torch.softmax(self.label_logits.masked_fill(~self.class_mask, -1e9), dim=-1)

    def lr(self) -> torch.Tensor:
        return self.log_lr.exp()

    def materialize(self, detach: bool = False) -> SynthBatch:
        """The batch the inner loop trains on (detached once the task is frozen)."""
        b = SynthBatch(self.images(), self.targets(), self.lr(), None if bool(self.class_mask.all()) else self.class_mask)
        if detach:
            b = b.detached()
        return b

    def param_groups(self, outer_lr: float, label_lr: float, lr_lr: float, generator_lr: float = 1e-3,
                     with_lr: bool = True) -> list[dict]:
        """Adam parameter groups with one learning rate per kind of variable (``with_lr=False``: keep the lr)."""
        if self.param == "pixels":
            groups = [{"params": [self.pixels], "lr": outer_lr}]
        else:
            groups = [{"params": [*self.gen.parameters(), self.latents], "lr": generator_lr}]
        if self.label_logits.requires_grad:
            groups.append({"params": [self.label_logits], "lr": label_lr})
        if self.log_lr.requires_grad and with_lr:
            groups.append({"params": [self.log_lr], "lr": lr_lr})
        return groups
