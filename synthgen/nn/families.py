"""The zoo's network families: the networks a consumer really trains. No training code here.

One block per family, each a plain ``nn.Module`` at the sizes people use:

- ``mlp``       MLPs with 1-3 hidden ReLU layers (widths 100-1024);
- ``convnet``   two stride-2 3x3 convs (this project's first generation learner);
- ``cnn``       the tutorial CNN: conv-ReLU-maxpool twice + linear, with or without BatchNorm;
- ``lenet``     LeNet-5 (5x5 convs, 6/16 channels, 120-84 head);
- ``convnet3``  the ConvNet of the dataset-distillation literature (conv3x3-norm-ReLU-avgpool blocks);
- ``resnet``    a small ResNet with BatchNorm (ResNet-8, or a narrow ResNet-18).

BatchNorm layers are ordinary ``nn.BatchNorm2d``: batch statistics while training, running
statistics in ``eval()``; the differentiable inner loop (synthgen.nn.inner_loop) carries their buffers
through ``torch.func.functional_call`` so that it trains exactly like ``torch.optim``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

Shape = tuple[int, int, int]


def _flat_dim(body: nn.Module, in_shape: Shape) -> int:
    """Width of ``body``'s flattened output, probed in eval mode so BatchNorm buffers stay at their initial values."""
    body.eval()
    with torch.no_grad():
        width = int(body(torch.zeros(1, *in_shape)).flatten(1).shape[1])
    body.train()
    return width


def _norm(kind: str, channels: int) -> nn.Module:
    """'batch' | 'instance' (GroupNorm with one group per channel, affine) | 'none'."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.GroupNorm(channels, channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; expected batch, instance or none")


# ---- MLPs --------------------------------------------------------------------------------------
def mlp(in_shape: Shape, num_classes: int, widths: Sequence[int] = (100,)) -> nn.Module:
    """Flatten, then one Linear-ReLU per width, then a linear head (784-100-10 by default)."""
    dims = [in_shape[0] * in_shape[1] * in_shape[2], *widths]
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in zip(dims, dims[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(dims[-1], num_classes))


# ---- strided ConvNet (the project's own first learner) ------------------------------------------
def convnet(in_shape: Shape, num_classes: int, width: int = 16, norm: str = "none", depth: int = 2) -> nn.Module:
    """3x3 convs, the even ones stride 2 (width doubling at each), each optionally normalised, + linear head.

    depth 2: stride-2 convs of width, 2 x width channels; depth 4: s2, s1, s2, s1."""
    layers: list[nn.Module] = []
    c, w = in_shape[0], width
    for i in range(depth):
        stride = 2 if i % 2 == 0 or depth == 2 else 1
        layers += [nn.Conv2d(c, w, 3, stride=stride, padding=1, bias=norm != "batch"), _norm(norm, w), nn.ReLU()]
        c = w
        if depth == 2 or i % 2 == 1:
            w *= 2
    body = nn.Sequential(*layers, nn.Flatten())
    return nn.Sequential(body, nn.Linear(_flat_dim(body, in_shape), num_classes))


# ---- the tutorial CNN: max pooling, optional BatchNorm -------------------------------------------
def cnn(
    in_shape: Shape,
    num_classes: int,
    widths: Sequence[int] = (32, 64),
    norm: str = "none",
    pool: str = "max",
    hidden: int = 0,
) -> nn.Module:
    """conv3x3-[norm]-ReLU-pool per width, then an optional hidden layer and a linear head."""
    layers: list[nn.Module] = []
    c = in_shape[0]
    for w in widths:
        layers += [
            nn.Conv2d(c, w, 3, padding=1, bias=norm != "batch"),
            _norm(norm, w),
            nn.ReLU(),
            nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2),
        ]
        c = w
    body = nn.Sequential(*layers, nn.Flatten())
    flat = _flat_dim(body, in_shape)
    head: list[nn.Module] = (
        [nn.Linear(flat, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)]
        if hidden
        else [nn.Linear(flat, num_classes)]
    )
    return nn.Sequential(body, *head)


# ---- LeNet-5 -------------------------------------------------------------------------------------
def lenet(in_shape: Shape, num_classes: int, pool: str = "max") -> nn.Module:
    """LeNet-5: conv5x5(6)-ReLU-pool, conv5x5(16)-ReLU-pool, 120-84 head; padded so any size works."""
    p: Callable[[], nn.Module] = (lambda: nn.MaxPool2d(2)) if pool == "max" else (lambda: nn.AvgPool2d(2))
    body = nn.Sequential(
        nn.Conv2d(in_shape[0], 6, 5, padding=2),
        nn.ReLU(),
        p(),
        nn.Conv2d(6, 16, 5, padding=2),
        nn.ReLU(),
        p(),
        nn.Flatten(),
    )
    return nn.Sequential(
        body,
        nn.Linear(_flat_dim(body, in_shape), 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, num_classes),
    )


# ---- ConvNet-3 of the distillation literature ------------------------------------------------------
def convnet3(in_shape: Shape, num_classes: int, width: int = 128, depth: int = 3, norm: str = "instance") -> nn.Module:
    """``depth`` blocks of conv3x3(width)-norm-ReLU-avgpool2 (Gidaris & Komodakis; Zhao et al.), linear head."""
    layers: list[nn.Module] = []
    c, size = in_shape[0], min(in_shape[1:])
    for _ in range(depth):
        layers += [nn.Conv2d(c, width, 3, padding=1), _norm(norm, width), nn.ReLU()]
        if size >= 2:
            layers.append(nn.AvgPool2d(2))
            size //= 2
        c = width
    body = nn.Sequential(*layers, nn.Flatten())
    return nn.Sequential(body, nn.Linear(_flat_dim(body, in_shape), num_classes))


# ---- a small ResNet with BatchNorm ------------------------------------------------------------------
class BasicBlock(nn.Module):
    """Two conv3x3-BN layers with an identity (or 1x1-conv-BN) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (
            nn.Sequential()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """conv3x3-BN-ReLU stem, stages of BasicBlocks (stride 2 from the second), global average pool, linear."""

    def __init__(self, in_shape: Shape, num_classes: int, width: int = 16, blocks: Sequence[int] = (1, 1, 1)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_shape[0], width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        stages, c = [], width
        for s, n in enumerate(blocks):
            out = width * 2**s
            for b in range(n):
                stages.append(BasicBlock(c, out, 2 if s > 0 and b == 0 else 1))
                c = out
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)).mean(dim=(2, 3)))


def resnet(in_shape: Shape, num_classes: int, width: int = 16, blocks: Sequence[int] = (1, 1, 1)) -> nn.Module:
    """ResNet-8 by default (3 stages of one block, 16-32-64 channels); ``blocks=(2, 2, 2, 2)`` is a ResNet-18 shape."""
    return ResNet(in_shape, num_classes, width, blocks)
