"""The cache of artifact-independent cells: reused exactly, keyed by all they depend on, never trusted blindly."""

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from synthgen.api import verify
from synthgen.core.io import TMP_PREFIX
from synthgen.format.artifact import Artifact, save_artifact
from synthgen.verification import cache
from synthgen.verification.cache import CellCache, learner_digest
from synthgen.verification.config import VerifyConfig
from synthgen.verification.grid import plan, plan_lr_grid, yielded
from synthgen.verification.methods import SYNTHETIC, Job, Kind, settings
from synthgen.verification.prefill import Prefill

# the tuning runs, the peers, the joint bound and the memory-free strategies: every kind of cached cell
CFG = VerifyConfig(
    seeds=(0,), archs=("mlp",), heldout=(), peer_lrs=(1e-4, 1e-3), joint_epochs=1, replay_epochs=(1,),
    replay_5n_epochs=(1,), gdumb_epochs=(3,), gdumb_shifted_epochs=(),
)  # fmt: skip


def _independent(art, cfg):
    """Every cell that does not depend on the images: tuning (lr, then the second setting at the chosen lr) and
    the grid's peers and references, but for the first seed's test cells of the tuned peers, which their tuning
    runs yield (the joint bound's test cell runs: its tuning run yields only its last prefix)."""
    second = [Job(j.arch, j.method, j.seed, j.lr, v, j.split) for j in plan_lr_grid(art, cfg)
              for v in settings(j.method, cfg)[1:] if j.lr == cfg.peer_lrs[0]]  # fmt: skip
    jobs = plan_lr_grid(art, cfg) + second + [j for j in plan(art, cfg) if not yielded(j, cfg)]
    return [j for j in jobs if not j.method.uses_images]


def test_second_verify_reuses_every_peer_cell_and_gives_the_same_certificate(tiny_artifact, tmp_path):
    first = verify(tiny_artifact, CFG, cache=tmp_path)
    n = len(_independent(tiny_artifact, CFG))
    assert n >= 8 and first.raw["protocol"]["spread"]["cache"] == {"reused_cells": 0, "computed_cells": n}
    assert len(list(tmp_path.glob("*/*.json"))) == n
    seconds = first.raw["protocol"]["spread"]["seconds_by_method"]  # where the time went, per method
    assert set(seconds) == {"tuning (validation)", *first.raw["results"]["mlp"]["methods"]}
    assert all(v >= 0 for v in seconds.values())
    learners = first.raw["protocol"]["spread"]["seconds_by_learner"]  # the same seconds, per learner
    assert set(learners) == set(first.raw["results"])
    assert sum(learners.values()) == pytest.approx(sum(seconds.values()), abs=0.1 * len(seconds))
    again = verify(tiny_artifact, CFG, cache=tmp_path)
    assert again.raw["protocol"]["spread"]["cache"] == {"reused_cells": n, "computed_cells": 0}
    assert again.raw["results"] == first.raw["results"] and again.raw["reasons"] == first.raw["reasons"]
    assert again.raw["protocol"]["peers"]["tuning"] == first.raw["protocol"]["peers"]["tuning"]
    fresh = verify(tiny_artifact, CFG, cache=False)  # computed anew: what the cache gave back is what a run gives
    assert fresh.raw["results"] == first.raw["results"] and "cache" not in fresh.raw["protocol"]["spread"]


def test_other_images_reuse_the_peers_but_another_recipe_or_epoch_count_does_not(tiny_artifact, tmp_path):
    verify(tiny_artifact, CFG, cache=tmp_path)
    noise = Artifact(
        torch.randn_like(tiny_artifact.images),
        tiny_artifact.labels,
        tiny_artifact.task_ids,
        copy.deepcopy(tiny_artifact.metadata),
        tiny_artifact.soft_labels,
    )
    cert = verify(noise, CFG, cache=tmp_path)  # the peers do not depend on the images
    assert cert.raw["protocol"]["spread"]["cache"]["computed_cells"] == 0
    assert cert.raw["results"]["mlp"]["methods"][SYNTHETIC.name]["acc_mean"] < 0.8  # but the synthetic cell was run
    longer = copy.deepcopy(tiny_artifact)
    longer.metadata["recipe"]["steps_per_task"] *= 2  # Random-20 and Herding-20 use it
    assert verify(longer, CFG, cache=tmp_path).raw["protocol"]["spread"]["cache"]["computed_cells"] == 2
    more = CFG.merged({"gdumb_epochs": [4]})  # GDumb's grid (2 lrs); its judged cell is the chosen lr's
    assert verify(tiny_artifact, more, cache=tmp_path).raw["protocol"]["spread"]["cache"]["computed_cells"] == 2


def test_a_tampered_or_corrupt_entry_is_recomputed_not_trusted(tiny_artifact, tmp_path):
    first = verify(tiny_artifact, CFG, cache=tmp_path)
    files = sorted(tmp_path.glob("*/*.json"))
    entry = json.loads(files[0].read_text())
    cell = entry["cell"]
    if "R" in cell:
        cell["R"][0][0] = 1.5  # not an accuracy
    else:
        cell["acc"] = float("nan")
    files[0].write_text(json.dumps(entry))
    files[1].write_text(files[1].read_text()[:40])  # truncated
    entry2 = json.loads(files[2].read_text())
    entry2["inputs"]["job"]["seed"] = 7  # a cell filed under a key it was not computed for
    files[2].write_text(json.dumps(entry2))
    again = verify(tiny_artifact, CFG, cache=tmp_path)
    assert again.raw["protocol"]["spread"]["cache"]["computed_cells"] == 3  # each spoiled entry, recomputed
    assert again.raw["results"] == first.raw["results"]


def test_a_learner_is_keyed_by_its_structure_and_initial_weights():
    a = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    b = copy.deepcopy(a)
    assert learner_digest(a) == learner_digest(b)
    with torch.no_grad():
        b[1].weight[0, 0] += 1e-6
    assert learner_digest(a) != learner_digest(b)
    wider = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10, bias=False))
    assert learner_digest(a) != learner_digest(wider)


def test_an_unwritable_cache_only_costs_time(tiny_artifact, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cert = verify(tiny_artifact, CFG, cache=blocker / "cache")
    assert cert.raw["protocol"]["spread"]["cache"]["reused_cells"] == 0 and cert.raw["verdict"]
    assert CellCache(blocker / "cache").get({"any": 1}) is None


def _as_it_starts(art):
    """``art`` as its generation starts: other images, soft labels and lrs, the same shape and metadata otherwise."""
    meta = copy.deepcopy(art.metadata)
    meta["recipe"]["lr_per_task"] = [lr * 0.5 for lr in meta["recipe"]["lr_per_task"]]
    soft = torch.softmax(torch.randn_like(art.soft_labels), -1)
    return Artifact(torch.randn_like(art.images), art.labels, art.task_ids, meta, soft)


def test_a_prefill_from_the_data_as_it_starts_leaves_only_the_cells_of_the_data(tiny_artifact, tmp_path):
    """The prefill process computes every cell that does not depend on what generation learns; the verification
    of the finished data reuses them and computes only its own (the synthetic data, Random-N and Herding-N)."""
    worker = Prefill(_as_it_starts(tiny_artifact), CFG, tmp_path, None)
    assert worker.process.wait(timeout=300) == 0
    worker.stop()
    own = [j for j in _independent(tiny_artifact, CFG) if j.method.kind is Kind.REAL_IN_PLACE]
    assert len(own) == 2 and len(list(tmp_path.glob("*/*.json"))) == len(_independent(tiny_artifact, CFG)) - 2
    cert = verify(tiny_artifact, CFG, cache=tmp_path)
    assert cert.raw["protocol"]["spread"]["cache"]["computed_cells"] == len(own)
    assert cert.raw["protocol"]["spread"]["cache"]["reused_cells"] == len(_independent(tiny_artifact, CFG)) - 2
    fresh = verify(tiny_artifact, CFG, cache=False)
    assert (
        cert.raw["results"] == fresh.raw["results"] and cert.raw["protocol"]["peers"] == fresh.raw["protocol"]["peers"]
    )


LONG = CFG.merged({"seeds": list(range(4)), "reference_seeds": 4, "heldout": ["cnn"], "gdumb_epochs": [300]})  # minutes


def test_a_stopped_prefill_ends_at_once_and_leaves_no_half_written_cell(tiny_artifact, tmp_path):
    worker = Prefill(tiny_artifact, LONG, tmp_path, None)
    _first_cell(tmp_path)  # it is in its grid
    t0 = time.perf_counter()
    worker.stop()
    assert worker.process.returncode is not None and time.perf_counter() - t0 < 5
    assert not list(tmp_path.rglob(f"{TMP_PREFIX}*")) and not Path(worker._folder.name).exists()
    for f in tmp_path.glob("*/*.json"):
        assert CellCache(tmp_path).get(json.loads(f.read_text())["inputs"]) is not None  # each a whole cell


def test_a_prefill_whose_generation_died_ends_after_its_cell(tiny_artifact, tmp_path):
    """Its parent killed before it could stop it (no ``stop()``): the prefill ends at its next job, not at the end
    of its grid."""
    path = save_artifact(tiny_artifact, tmp_path / "a.safetensors")
    parent = (
        "import json, os, sys, time\n"
        "from synthgen.format.artifact import load_artifact\n"
        "from synthgen.verification.config import VerifyConfig\n"
        "from synthgen.verification.prefill import Prefill\n"
        "cfg = VerifyConfig.from_dict(json.loads(sys.argv[3]))\n"
        "worker = Prefill(load_artifact(sys.argv[1]), cfg, sys.argv[2], None)\n"
        "print(worker.process.pid, flush=True)\n"
        "from tests.test_verify_cache import _first_cell\n"
        "_first_cell(sys.argv[2])\n"
        "os._exit(0)\n"
    )
    args = [str(path), str(tmp_path / "c"), json.dumps(LONG.to_dict())]
    out = subprocess.run(
        [sys.executable, "-c", parent, *args], capture_output=True, text=True, cwd=Path(__file__).parents[1]
    )
    pid, t0 = int(out.stdout.split()[0]), time.perf_counter()  # the parent has exited
    while _running(pid) and time.perf_counter() - t0 < 30:
        time.sleep(0.2)
    assert not _running(pid), "the orphaned prefill kept running"
    made = len(list((tmp_path / "c").glob("*/*.json")))
    assert 0 < made < len(_independent(tiny_artifact, LONG)) / 2  # it had started, and ended well before its grid


def _first_cell(cache: str | os.PathLike, timeout: float = 120) -> None:
    """Wait until the cache holds a cell."""
    t0 = time.perf_counter()
    while not list(Path(cache).glob("*/*.json")) and time.perf_counter() - t0 < timeout:
        time.sleep(0.1)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"  # a zombie has ended


@pytest.mark.parametrize("module", ["memory_free.py", "real_sets.py", "peers.py", "augment.py", "recipe.py"])
def test_a_change_to_the_code_that_trains_a_cell_is_a_new_key(monkeypatch, module):
    before = cache.code_digest()
    read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read(self) + (b"#" if self.name == module else b""))
    assert cache.code_digest() != before
