"""Differentiable augmentation of synthetic images during meta-training (DSA-style).

Each inner step sees its own randomly transformed copy of a task's synthetic images (small
rotation, scale and shift, one draw per image; no flips, which would turn digits into other
shapes). The transform is ``affine_grid`` + ``grid_sample``, so the meta-gradient flows back
to the pixels through it. The consumer trains on the plain images: augmentation only shapes
what the data is learned to do (Zhao & Bilen, arXiv 2102.08259, "Dataset Condensation with
Differentiable Siamese Augmentation").
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_DEGREES = 15.0   # rotation drawn from U(-15, 15) degrees
MAX_SCALE = 0.1      # zoom drawn from U(0.9, 1.1)
MAX_SHIFT = 0.125    # shift drawn from U(-1/8, 1/8) of the image size (3.5 px on 28 x 28)


def random_affine(images: torch.Tensor, views: int, generator: torch.Generator) -> torch.Tensor:
    """``views`` independently transformed copies of ``images`` [n, C, H, W] -> [views, n, C, H, W].

    Differentiable w.r.t. ``images``; the draws come from ``generator`` only (exact resume)."""
    n = images.shape[0]
    u = torch.rand(4, views * n, generator=generator).to(images.device, images.dtype) * 2 - 1
    angle = u[0] * math.radians(MAX_DEGREES)
    scale = 1 + u[1] * MAX_SCALE
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, u[2] * MAX_SHIFT * 2], -1),
                         torch.stack([sin, cos, u[3] * MAX_SHIFT * 2], -1)], 1)  # [views*n, 2, 3]
    batch = images.repeat(views, 1, 1, 1)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    # border padding repeats the edge pixels: the background of a digit, whatever the normalisation
    out = F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.view(views, *images.shape)
