"""Small, CPU-friendly learners, built fresh from a seed. No training code here.

No BatchNorm or other buffers: the inner loop treats a learner as a pure function of its
parameters (torch.func.functional_call), and a consumer can train it with plain SGD.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def _flat_dim(body: nn.Module, in_shape: tuple[int, int, int]) -> int:
    with torch.no_grad():
        return int(body(torch.zeros(1, *in_shape)).flatten(1).shape[1])


def mlp(in_shape: tuple[int, int, int], num_classes: int, width: int = 100) -> nn.Module:
    """784-100-10 style MLP (one hidden ReLU layer)."""
    c, h, w = in_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, width), nn.ReLU(), nn.Linear(width, num_classes))


def mlp256(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """Wider MLP (held-out architecture)."""
    return mlp(in_shape, num_classes, width=256)


def mlp2(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """Two hidden layers, 256-128 (held-out architecture)."""
    c, h, w = in_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 256), nn.ReLU(),
                         nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, num_classes))


def convnet(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """Two stride-2 3x3 convs (16, 32 channels) + linear head."""
    body = nn.Sequential(nn.Conv2d(in_shape[0], 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
    return nn.Sequential(body, nn.Linear(_flat_dim(body, in_shape), num_classes))


def lenet(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """LeNet-5 shape (6 and 16 channels, average pooling, 120-84 head); padded for any size."""
    body = nn.Sequential(nn.Conv2d(in_shape[0], 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(6, 16, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten())
    return nn.Sequential(body, nn.Linear(_flat_dim(body, in_shape), 120), nn.ReLU(),
                         nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes))


def convpool(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """Conv 24/48 channels with average pooling (held-out architecture)."""
    body = nn.Sequential(nn.Conv2d(in_shape[0], 24, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(24, 48, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten())
    return nn.Sequential(body, nn.Linear(_flat_dim(body, in_shape), num_classes))


LEARNERS: dict[str, Callable[[tuple[int, int, int], int], nn.Module]] = {
    "mlp": mlp, "convnet": convnet, "lenet": lenet, "mlp256": mlp256, "mlp2": mlp2, "convpool": convpool,
}


class UnknownLearnerError(ValueError):
    """An architecture name that :data:`LEARNERS` does not know."""


def check_archs(names: tuple[str, ...] | list[str]) -> None:
    """Raise UnknownLearnerError naming the first unknown architecture."""
    for name in names:
        if name not in LEARNERS:
            raise UnknownLearnerError(f"unknown learner {name!r}; known: {', '.join(LEARNERS)}")


def build_learner(name: str, in_shape: tuple[int, int, int], num_classes: int, seed: int,
                  device: str | torch.device = "cpu") -> nn.Module:
    """A freshly initialised learner; the same (name, shape, seed) always gives the same weights."""
    check_archs([name])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LEARNERS[name](tuple(in_shape), num_classes)
    return model.to(device)
