"""The learner zoo: every name in :data:`ZOO` is a (family, builder, keyword arguments) entry.

:func:`build_learner` builds a zoo name or a user's ``pkg.module:callable`` fresh from a seed,
without touching the global RNG. The families themselves are in synthgen.nn.families.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from synthgen.core.errors import SynthgenError
from synthgen.nn.families import Shape, cnn, convnet, convnet3, lenet, mlp, resnet


# ---- the registry -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZooEntry:
    family: str
    build: Callable[..., nn.Module]
    kwargs: dict[str, Any] = field(default_factory=dict)
    about: str = ""
    channels_last: bool = False  # the verifier trains it in channels_last: faster on CPU (docs/memory_format.md)


ZOO: dict[str, ZooEntry] = {
    "mlp": ZooEntry("mlp", mlp, {"widths": (100,)}, "784-100-10 MLP"),
    "mlp256": ZooEntry("mlp", mlp, {"widths": (256,)}, "784-256-10 MLP"),
    "mlp1024": ZooEntry("mlp", mlp, {"widths": (1024,)}, "784-1024-10 MLP"),
    "mlp2": ZooEntry("mlp", mlp, {"widths": (256, 128)}, "two hidden layers, 256-128"),
    "mlp3": ZooEntry("mlp", mlp, {"widths": (512, 256, 128)}, "three hidden layers, 512-256-128"),
    "mlp3_s": ZooEntry("mlp", mlp, {"widths": (128, 128, 128)}, "narrow three-hidden-layer MLP (a cheap deep proxy)"),
    "convnet": ZooEntry("convnet", convnet, {"width": 16}, "two stride-2 convs, 16/32 channels"),
    "convnet_bn": ZooEntry("convnet", convnet, {"width": 16, "norm": "batch"}, "the strided ConvNet with BatchNorm"),
    "convnet_in": ZooEntry(
        "convnet", convnet, {"width": 16, "norm": "instance"}, "the strided ConvNet with instance norm (per image)"
    ),
    "convnet4_bn": ZooEntry(
        "convnet",
        convnet,
        {"width": 16, "norm": "batch", "depth": 4},
        "four strided/plain 3x3 convs with BatchNorm, 16-16-32-32",
    ),
    "convnet4_bn_s": ZooEntry(
        "convnet",
        convnet,
        {"width": 8, "norm": "batch", "depth": 4},
        "narrow four-conv BatchNorm ConvNet, 8-8-16-16 (a cheap deep proxy)",
    ),
    "convpool": ZooEntry(
        "cnn", cnn, {"widths": (24, 48), "pool": "avg"}, "conv 24/48 with average pooling", channels_last=True
    ),
    "cnn": ZooEntry(
        "cnn", cnn, {"widths": (32, 64)}, "tutorial CNN: conv32-maxpool-conv64-maxpool-linear", channels_last=True
    ),
    "cnn_s": ZooEntry("cnn", cnn, {"widths": (8, 16)}, "narrow tutorial CNN, 8/16 channels", channels_last=True),
    "cnn_bn": ZooEntry(
        "cnn_bn", cnn, {"widths": (32, 64), "norm": "batch"}, "tutorial CNN with BatchNorm", channels_last=True
    ),
    "lenet": ZooEntry("lenet", lenet, {}, "LeNet-5 (max pooling)", channels_last=True),
    "convnet3": ZooEntry(
        "convnet3",
        convnet3,
        {"width": 128, "depth": 3, "norm": "instance"},
        "ConvNet-3: 3 x conv128-instancenorm-ReLU-avgpool",
    ),
    "convnet3_s": ZooEntry(
        "convnet3",
        convnet3,
        {"width": 32, "depth": 3, "norm": "instance"},
        "ConvNet-3 at width 32 (the verifier's default held-out member: a tenth of the cost)",
    ),
    "resnet8": ZooEntry(
        "resnet", resnet, {"width": 16, "blocks": (1, 1, 1)}, "ResNet-8 with BatchNorm, 16-32-64", channels_last=True
    ),
    "resnet18n": ZooEntry(
        "resnet",
        resnet,
        {"width": 8, "blocks": (2, 2, 2, 2)},
        "narrow ResNet-18 with BatchNorm, 8-64",
        channels_last=True,
    ),
}

START_ARCH = "convnet3_s"  # the network whose random bodies shape an "init dm" start (DM's own, ConvNet-3):
# generation builds them, and the verifier does not hold its family out


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
            raise UnknownLearnerError(
                f"unknown learner {name!r}; known: {', '.join(ZOO)} (or your own: 'pkg.module:callable')"
            )


def family_of(name: str) -> str:
    """The family a learner belongs to (e.g. 'mlp256' -> 'mlp'; a user's ``module:callable`` -> 'user')."""
    check_archs([name])
    return "user" if is_import_spec(name) else ZOO[name].family


def in_fast_layout(name: str, model: nn.Module) -> nn.Module:
    """``model`` in the memory format that trains the zoo learner ``name`` fastest on CPU (its ``channels_last``
    flag: max pooling and BatchNorm run vectorised over the channels there). The same network: only float
    rounding changes. A user's ``pkg.module:callable`` stays as written."""
    if not is_import_spec(name) and ZOO[name].channels_last:
        return model.to(memory_format=torch.channels_last)
    return model


def has_batchnorm(model: nn.Module) -> bool:
    """Does ``model`` hold BatchNorm layers (whose running statistics the verifier must respect)?"""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def num_parameters(model: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def seeded(build: Callable[[], Any], seed: int, every_device: bool = False) -> Any:
    """``build()`` with the CPU's global RNG seeded by ``seed``, without touching the caller's RNG state. The zoo's
    modules initialise on the CPU, so the CPU generator alone: ``torch.manual_seed`` also reseeds every
    accelerator's and costs milliseconds per call, which a pool of hundreds of learners pays at every task.
    ``every_device``: ``torch.manual_seed`` (a user's network may initialise on an accelerator)."""
    with torch.random.fork_rng(devices=[]):
        (torch.manual_seed if every_device else torch.default_generator.manual_seed)(seed)
        return build()


def build_learner(
    name: str, in_shape: Sequence[int], num_classes: int, seed: int, device: str | torch.device = "cpu"
) -> nn.Module:
    """A freshly initialised learner: a zoo name, or the user's ``pkg.module:callable``. The same
    (name, shape, seed) always gives the same weights."""
    check_archs([name])
    if is_import_spec(name):
        build = import_builder(name)
        model = seeded(lambda: build(tuple(in_shape), num_classes), seed, every_device=True)
        if not isinstance(model, nn.Module):
            raise UnknownLearnerError(f"model {name!r} returned {type(model).__name__}, not a torch.nn.Module")
        return model.to(device)
    entry = ZOO[name]
    return seeded(lambda: entry.build(tuple(in_shape), num_classes, **entry.kwargs), seed).to(device)
