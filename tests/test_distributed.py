"""torch.distributed (gloo on 127.0.0.1, 2 processes started by the test): same data and same
verify numbers as one process; a dead rank stops the run and its last checkpoint resumes."""
import json
import os

import pytest
import torch
import torch.multiprocessing as mp

from synthgen import distributed as dist
from synthgen.config import VerifyConfig
from synthgen.engine import Engine

from .conftest import tiny_config
from .hub_servers import free_port

CFG = dict(steps=12, inits_per_step=4, checkpoint_every=2, grad_chunks=2)


def _worker(rank: int, world: int, port: int, out: str, die_at: int | None, ckpt: str | None) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_from_env("cpu", timeout_s=60)
    assert dist.world() == world and dist.rank() == rank

    def maybe_die(info):
        if die_at is not None and rank == 1 and info.global_step == die_at:
            os._exit(3)  # a rank dies without any clean-up

    engine = Engine(tiny_config(**CFG), checkpoint_path=ckpt)
    res = engine.run(maybe_die)
    from synthgen.api import artifact_from_result, verify

    art = artifact_from_result(res, engine.cfg)
    cert = verify(art, VerifyConfig(seeds=(0, 1), heldout=("mlp256",), baselines=True, joint_epochs=1))
    if rank == 0:
        torch.save({"images": res.images, "soft": res.soft_labels, "lrs": torch.tensor(res.lrs)}, out)
        with open(out + ".json", "w") as fh:
            json.dump(cert["results"], fh)
    dist.shutdown()


def _single(tmp_path):
    engine = Engine(tiny_config(**CFG))
    res = engine.run()
    from synthgen.api import artifact_from_result, verify

    art = artifact_from_result(res, engine.cfg)
    cert = verify(art, VerifyConfig(seeds=(0, 1), heldout=("mlp256",), baselines=True, joint_epochs=1))
    return res, cert


def test_two_processes_match_one(tmp_path):
    out = str(tmp_path / "rank0.pt")
    mp.start_processes(_worker, args=(2, free_port(), out, None, None), nprocs=2, join=True, start_method="spawn")
    got = torch.load(out, weights_only=True)
    res, cert = _single(tmp_path)
    # the issue asks for 1e-5; chunked gradients make it exact on one machine
    assert torch.allclose(got["images"], res.images, atol=1e-5) and torch.equal(got["images"], res.images)
    assert torch.allclose(got["soft"], res.soft_labels, atol=1e-5)
    assert torch.allclose(got["lrs"], torch.tensor(res.lrs, dtype=got["lrs"].dtype), atol=1e-6)
    dist_results = json.loads(open(out + ".json").read())
    single = json.loads(json.dumps(cert["results"]))
    assert dist_results == single  # every matrix of every (arch, method, seed), exactly


def test_dead_rank_stops_the_run_and_the_checkpoint_resumes(tmp_path):
    ckpt = tmp_path / "run.ckpt.safetensors"
    with pytest.raises(mp.ProcessExitedException, match="exit code 3|process 1"):
        mp.start_processes(_worker, args=(2, free_port(), str(tmp_path / "x.pt"), 7, str(ckpt)), nprocs=2,
                           join=True, start_method="spawn")
    assert not (tmp_path / "x.pt").exists()
    resumed = Engine(tiny_config(**CFG), checkpoint_path=ckpt, resume=True)  # in ONE process now
    assert resumed.global_step == 6  # the last checkpoint before the failure, written by rank 0
    full = Engine(tiny_config(**CFG)).run()
    assert torch.allclose(resumed.run().images, full.images, atol=1e-5)
