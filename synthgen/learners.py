"""The learner zoo: the networks a consumer really trains, built fresh from a seed. No training code here.

One block per family, each a plain ``nn.Module`` at the sizes people use:

- ``mlp``       MLPs with 1-3 hidden ReLU layers (widths 100-1024);
- ``convnet``   two stride-2 3x3 convs (this project's first generation learner);
- ``cnn``       the tutorial CNN: conv-ReLU-maxpool twice + linear, with or without BatchNorm;
- ``lenet``     LeNet-5 (5x5 convs, 6/16 channels, 120-84 head);
- ``convnet3``  the ConvNet of the dataset-distillation literature (conv3x3-norm-ReLU-avgpool blocks);
- ``resnet``    a small ResNet with BatchNorm (ResNet-8, or a narrow ResNet-18).

BatchNorm layers are ordinary ``nn.BatchNorm2d``: batch statistics while training, running
statistics in ``eval()``. The differentiable inner loop (synthgen.inner_loop) carries their
buffers through ``torch.func.functional_call`` so that it trains exactly like ``torch.optim``.
Every name in :data:`ZOO` is a (family, builder, keyword arguments) entry; ``build_learner``
seeds the initialisation without touching the global RNG.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .errors import SynthgenError

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
def cnn(in_shape: Shape, num_classes: int, widths: Sequence[int] = (32, 64), norm: str = "none",
        pool: str = "max", hidden: int = 0) -> nn.Module:
    """conv3x3-[norm]-ReLU-pool per width, then an optional hidden layer and a linear head."""
    layers: list[nn.Module] = []
    c = in_shape[0]
    for w in widths:
        layers += [nn.Conv2d(c, w, 3, padding=1, bias=norm != "batch"), _norm(norm, w), nn.ReLU(),
                   nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)]
        c = w
    body = nn.Sequential(*layers, nn.Flatten())
    flat = _flat_dim(body, in_shape)
    head: list[nn.Module] = [nn.Linear(flat, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)] if hidden \
        else [nn.Linear(flat, num_classes)]
    return nn.Sequential(body, *head)


# ---- LeNet-5 -------------------------------------------------------------------------------------
def lenet(in_shape: Shape, num_classes: int, pool: str = "max") -> nn.Module:
    """LeNet-5: conv5x5(6)-ReLU-pool, conv5x5(16)-ReLU-pool, 120-84 head; padded so any size works."""
    p: Callable[[], nn.Module] = (lambda: nn.MaxPool2d(2)) if pool == "max" else (lambda: nn.AvgPool2d(2))
    body = nn.Sequential(nn.Conv2d(in_shape[0], 6, 5, padding=2), nn.ReLU(), p(),
                         nn.Conv2d(6, 16, 5, padding=2), nn.ReLU(), p(), nn.Flatten())
    return nn.Sequential(body, nn.Linear(_flat_dim(body, in_shape), 120), nn.ReLU(),
                         nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes))


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
        self.shortcut = nn.Sequential() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

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
            out = width * 2 ** s
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


# ---- the registry -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZooEntry:
    family: str
    build: Callable[..., nn.Module]
    kwargs: dict[str, Any] = field(default_factory=dict)
    about: str = ""


ZOO: dict[str, ZooEntry] = {
    "mlp": ZooEntry("mlp", mlp, {"widths": (100,)}, "784-100-10 MLP"),
    "mlp256": ZooEntry("mlp", mlp, {"widths": (256,)}, "784-256-10 MLP"),
    "mlp1024": ZooEntry("mlp", mlp, {"widths": (1024,)}, "784-1024-10 MLP"),
    "mlp2": ZooEntry("mlp", mlp, {"widths": (256, 128)}, "two hidden layers, 256-128"),
    "mlp3": ZooEntry("mlp", mlp, {"widths": (512, 256, 128)}, "three hidden layers, 512-256-128"),
    "mlp3_s": ZooEntry("mlp", mlp, {"widths": (128, 128, 128)}, "narrow three-hidden-layer MLP (a cheap deep proxy)"),
    "convnet": ZooEntry("convnet", convnet, {"width": 16}, "two stride-2 convs, 16/32 channels"),
    "convnet_bn": ZooEntry("convnet", convnet, {"width": 16, "norm": "batch"}, "the strided ConvNet with BatchNorm"),
    "convnet4_bn": ZooEntry("convnet", convnet, {"width": 16, "norm": "batch", "depth": 4},
                            "four strided/plain 3x3 convs with BatchNorm, 16-16-32-32"),
    "convnet4_bn_s": ZooEntry("convnet", convnet, {"width": 8, "norm": "batch", "depth": 4},
                              "narrow four-conv BatchNorm ConvNet, 8-8-16-16 (a cheap deep proxy)"),
    "convpool": ZooEntry("cnn", cnn, {"widths": (24, 48), "pool": "avg"}, "conv 24/48 with average pooling"),
    "cnn": ZooEntry("cnn", cnn, {"widths": (32, 64)}, "tutorial CNN: conv32-maxpool-conv64-maxpool-linear"),
    "cnn_s": ZooEntry("cnn", cnn, {"widths": (8, 16)}, "narrow tutorial CNN, 8/16 channels"),
    "cnn_bn": ZooEntry("cnn_bn", cnn, {"widths": (32, 64), "norm": "batch"}, "tutorial CNN with BatchNorm"),
    "lenet": ZooEntry("lenet", lenet, {}, "LeNet-5 (max pooling)"),
    "convnet3": ZooEntry("convnet3", convnet3, {"width": 128, "depth": 3, "norm": "instance"},
                         "ConvNet-3: 3 x conv128-instancenorm-ReLU-avgpool"),
    "convnet3_s": ZooEntry("convnet3", convnet3, {"width": 32, "depth": 3, "norm": "instance"},
                           "ConvNet-3 at width 32 (the verifier's default held-out member: a tenth of the cost)"),
    "resnet8": ZooEntry("resnet", resnet, {"width": 16, "blocks": (1, 1, 1)}, "ResNet-8 with BatchNorm, 16-32-64"),
    "resnet18n": ZooEntry("resnet", resnet, {"width": 8, "blocks": (2, 2, 2, 2)}, "narrow ResNet-18 with BatchNorm, 8-64"),
}


class UnknownLearnerError(SynthgenError, ValueError):
    """An architecture name that is neither in :data:`ZOO` nor an importable ``module:callable``."""


def is_import_spec(name: str) -> bool:
    """``pkg.module:callable`` names the user's own network (imported on demand, the user's explicit choice)."""
    return ":" in name


def import_builder(spec: str) -> Callable[[Shape, int], nn.Module]:
    """The callable ``(in_shape, num_classes) -> nn.Module`` that ``pkg.module:attr`` names."""
    import importlib

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UnknownLearnerError(f"model {spec!r}: expected 'package.module:callable'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UnknownLearnerError(f"model {spec!r}: cannot import module {module_name!r} ({err})") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UnknownLearnerError(f"model {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UnknownLearnerError(f"model {spec!r}: {attr!r} is not callable")
    return obj


def check_archs(names: Sequence[str]) -> None:
    """Raise UnknownLearnerError naming the first unknown zoo name or unimportable ``module:callable``."""
    for name in names:
        if is_import_spec(name):
            import_builder(name)
        elif name not in ZOO:
            raise UnknownLearnerError(f"unknown learner {name!r}; known: {', '.join(ZOO)} (or your own: 'pkg.module:callable')")


def family_of(name: str) -> str:
    """The family a learner belongs to (e.g. 'mlp256' -> 'mlp'; a user's ``module:callable`` -> 'user')."""
    check_archs([name])
    return "user" if is_import_spec(name) else ZOO[name].family


def has_batchnorm(model: nn.Module) -> bool:
    """Does ``model`` hold BatchNorm layers (whose running statistics the verifier must respect)?"""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def num_parameters(model: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def seeded(build: Callable[[], Any], seed: int) -> Any:
    """``build()`` under ``torch.manual_seed(seed)`` without touching the caller's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def build_learner(name: str, in_shape: Sequence[int], num_classes: int, seed: int,
                  device: str | torch.device = "cpu") -> nn.Module:
    """A freshly initialised learner: a zoo name, or the user's ``pkg.module:callable``. The same
    (name, shape, seed) always gives the same weights."""
    check_archs([name])
    if is_import_spec(name):
        build = import_builder(name)
        model = seeded(lambda: build(tuple(in_shape), num_classes), seed)
        if not isinstance(model, nn.Module):
            raise UnknownLearnerError(f"model {name!r} returned {type(model).__name__}, not a torch.nn.Module")
        return model.to(device)
    entry = ZOO[name]
    return seeded(lambda: entry.build(tuple(in_shape), num_classes, **entry.kwargs), seed).to(device)
