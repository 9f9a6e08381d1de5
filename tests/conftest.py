"""Shared fixtures: one thread per process (the suite runs on 2 processes, and a loaded 2-core box is 50x
slower with 2 threads each; subprocesses inherit OMP_NUM_THREADS), tiny seeded configs."""

from __future__ import annotations

import os

import pytest
import torch

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["SYNTHGEN_NPROC"] = "1"  # verify in this process (tests/test_distributed.py launches processes)
torch.set_num_threads(1)

from synthgen.data.config import TaskConfig
from synthgen.data.sources import load_source
from synthgen.generation.config import GenerateConfig, LearnerConfig

# the verifier's peers at one lr and one budget each, so a test's verify takes seconds (the tuning itself is tested
# in tests/test_verify.py::test_peers_lr_and_epochs_are_chosen_on_validation)
ONE = {
    "peer_lrs": (1e-3,),
    "replay_epochs": (2,),
    "replay_5n_epochs": (2,),
    "gdumb_epochs": (30,),
    "gdumb_shifted_epochs": (),
}


@pytest.fixture(scope="session")
def mnist5k():
    return load_source("mnist-5k")


def tiny_config(**overrides) -> GenerateConfig:
    """2 tasks of Split-MNIST, 5 images/class, 5 inner steps (and a recipe of as many), a k-means start, no
    rehearsal, no feature matching, no shifts, no gradient clipping and no tail average (the margins of the tests
    built on it were measured so; tests/test_rehearsal.py and tests/test_engine.py cover them), a replay pool of 16
    learners (the default's 256 cost more than a 120-step run itself): seconds, yet a real effect."""
    base = dict(
        tasks=TaskConfig(split="0,1/2,3"),
        learners=LearnerConfig(archs=("mlp",)),
        ipc=5,
        inner_steps=5,
        inits_per_step=2,
        real_batch=128,
        steps=120,
        eval_every=0,
        checkpoint_every=0,
        device="cpu",
        outer_lr=0.03,
        recipe_step_scale=1,
        rehearsal=False,
        tail_average=0.0,
        refine_tail=0.0,
        feature_weight=0.0,
        shift=0,
        inner_clip=0.0,
        init="kmeans",
        replay_pool=16,
    )
    base.update(overrides)
    return GenerateConfig(**base)


# a run of seconds with two learner families: 2 tasks, 6 outer steps (tests/test_api.py, tests/test_distributed.py)
TWO_TASK_RUN = {
    "tasks": {"split": "0,1/2,3"},
    "learners": {"archs": ["mlp", "convnet_bn"]},
    "inner_steps": 3,
    "steps": 6,
    "eval_every": 0,
    "device": "cpu",
    "real_batch": 64,
    "init": "kmeans",
    "replay_pool": 8,
}


def _made_once(name: str, cfg: GenerateConfig, source, tmp_path_factory):
    """The engine's artifact for ``cfg``, made by the first test process that asks and saved where the other
    processes of the session (pytest-xdist workers) load it; every process gets the loaded file."""
    from filelock import FileLock

    from synthgen.format.artifact import load_artifact, save_artifact
    from synthgen.generation.engine import Engine
    from synthgen.generation.result import artifact_from_result

    base = tmp_path_factory.getbasetemp()  # under xdist each worker's; its parent is this session's
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / f"shared-{name}.safetensors"
    with FileLock(f"{path}.lock"):
        if not path.exists():
            save_artifact(artifact_from_result(Engine(cfg, source=source).run(), cfg), path)
    return load_artifact(path)


@pytest.fixture(scope="session")
def tiny_artifact(mnist5k, tmp_path_factory):
    """An artifact made by the engine once per session (about 5 s)."""
    return _made_once("tiny", tiny_config(), mnist5k, tmp_path_factory)


def small_config(**overrides) -> GenerateConfig:
    """All 5 Split-MNIST tasks, 5 images/class, the MLP, the default's rehearsing recipe (~8 s)."""
    return tiny_config(tasks=TaskConfig(), steps=150, inner_steps=10, rehearsal=True, **overrides)


@pytest.fixture(scope="session")
def small_artifact(mnist5k, tmp_path_factory):
    """A 5-task artifact made once per session. Under tests/test_verify.py's quick peers (2 seeds) it leads
    Random-50, GDumb-50 and Replay-50 by 0.17-0.21 and Herding-50 by 0.06 on the MLP (measured)."""
    return _made_once("small", small_config(), mnist5k, tmp_path_factory)


@pytest.fixture(scope="session", autouse=True)
def _session_verify_cache(tmp_path_factory):
    """Session and module fixtures verify with this process's own cache of peer cells, never ~/.cache."""
    os.environ["SYNTHGEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("verify-cache"))


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test starts at one torch thread: a CLI test's --threads (run in-process) must not leak into the next
    test of the same worker, whose float rounding, and so its bit-identity checks, depend on the count."""
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _verify_cache(tmp_path, monkeypatch):
    """Every test verifies with its own, empty cache of peer cells (tests of the cache share one on purpose)."""
    monkeypatch.setenv("SYNTHGEN_CACHE_DIR", str(tmp_path / "verify-cache"))


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    """The hub on 127.0.0.1 for the whole session: olah (reads) + tests/hub_double.py (writes)."""
    from .hub_servers import REJECTED, running_hub

    with running_hub(tmp_path_factory.mktemp("hub"), ("--reject-token", REJECTED)) as h:
        yield h


@pytest.fixture()
def hf_cache(tmp_path, monkeypatch):
    """A hub download in this process (no --to) lands in this test's own HF cache, never ~/.cache/huggingface."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))


CONSUMER_NETS = """
from torch import nn


def build(in_shape, num_classes):
    c, h, w = in_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 32), nn.ReLU(), nn.Linear(32, num_classes))


def wide(in_shape, num_classes):
    c, h, w = in_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 300), nn.ReLU(), nn.Linear(300, num_classes))


def not_a_module(in_shape, num_classes):
    return "a string"


CONSTANT = 3
"""


@pytest.fixture()
def consumer_nets(tmp_path, monkeypatch):
    """A module of the user's own networks, importable as ``consumer_nets`` (written by the test)."""
    import sys

    (tmp_path / "consumer_nets.py").write_text(CONSUMER_NETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "consumer_nets"
    sys.modules.pop("consumer_nets", None)


@pytest.fixture(scope="module")
def exported(tiny_artifact, tmp_path_factory):
    """(folder, path): the tiny artifact saved into a fresh folder, for the hub tests."""
    from synthgen.format.artifact import save_artifact

    tmp = tmp_path_factory.mktemp("pub")
    return tmp, save_artifact(tiny_artifact, tmp / "tiny.safetensors")
