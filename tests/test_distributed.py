"""torch.distributed on 127.0.0.1: real torchrun launches (--nproc, verify's default) of generate and verify give the
one-process results; a dead rank stops the run and its last checkpoint resumes."""

import json
import os

import pytest
import torch
import torch.multiprocessing as mp

from synthgen.cli._common import default_processes
from synthgen.core import distributed as dist
from synthgen.generation.engine import Engine

from .conftest import TWO_TASK_RUN, tiny_config
from .hub_servers import free_port

CFG = dict(steps=12, inits_per_step=4, checkpoint_every=2, grad_chunks=2)


def _worker(rank: int, world: int, port: int, out: str, die_at: int | None, ckpt: str | None) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    dist.init_from_env("cpu", timeout_s=60)
    assert dist.world() == world and dist.rank() == rank

    def maybe_die(info):
        if die_at is not None and rank == 1 and info.global_step == die_at:
            os._exit(3)  # a rank dies without any clean-up

    res = Engine(tiny_config(**CFG), checkpoint_path=ckpt).run(maybe_die)
    if rank == 0:
        torch.save({"images": res.images}, out)
    dist.shutdown()


def test_dead_rank_stops_the_run_and_the_checkpoint_resumes(tmp_path):
    ckpt = tmp_path / "run.ckpt.safetensors"
    with pytest.raises(mp.ProcessExitedException, match="exit code 3|process 1"):
        mp.start_processes(
            _worker,
            args=(2, free_port(), str(tmp_path / "x.pt"), 7, str(ckpt)),
            nprocs=2,
            join=True,
            start_method="spawn",
        )
    assert not (tmp_path / "x.pt").exists()
    resumed = Engine(tiny_config(**CFG), checkpoint_path=ckpt, resume=True)  # in ONE process now
    assert resumed.global_step == 6  # the last checkpoint before the failure, written by rank 0
    full = Engine(tiny_config(**CFG)).run()
    assert torch.allclose(resumed.run().images, full.images, atol=1e-5)


# ---- real launches: torchrun and --nproc, each in a subprocess -------------------------------------------------
TINY_GEN = {**TWO_TASK_RUN, "ipc": 3, "inits_per_step": 4, "grad_chunks": 2, "checkpoint_every": 0}


def _run(args, cwd, default_nproc=False):
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if default_nproc:
        env.pop("SYNTHGEN_NPROC")  # the verify CLI's own default
    cmd = [sys.executable, "-m", "synthgen", *args]
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode in (0, 1), res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.mark.slow  # four process starts; the dead-rank test above runs 2-process generation in CI
def test_generate_with_nproc_and_under_torchrun_equals_one_process(tmp_path):
    """Learners spread over 2 processes (chunked, exactly all-reduced gradients), BatchNorm learners included:
    the artifact of `--nproc 2` (the same command re-run under torchrun; verify's launch is the next test) is
    bit-identical to one process's (this one, 1 thread)."""
    from synthgen.api import generate
    from synthgen.format.artifact import load_artifact
    from synthgen.generation.config import GenerateConfig

    (tmp_path / "c.json").write_text(json.dumps(TINY_GEN))
    one = generate(GenerateConfig.from_dict(TINY_GEN), out=tmp_path / "one.safetensors")
    two = _run(["generate", "--config", "c.json", "--out", "nproc.safetensors", "--nproc", "2"], tmp_path)
    assert load_artifact(tmp_path / "nproc.safetensors").sha256 == one.sha256
    assert "on 2 processes" in two.stdout and two.stdout.count("artifact:") == 1  # rank 0 alone prints


@pytest.mark.skipif(default_processes() < 2, reason="one core: verify runs in one process")
def test_verify_spreads_over_every_core_by_default_like_one_process_and_reports_not_certified_as_exit_1(
    tmp_path, tiny_artifact, monkeypatch, capsys
):
    """`synthgen verify` with no --nproc relaunches itself under torchrun, one process per core: every matrix of
    every (arch, method, seed) equals one process's, rank 0 alone prints and writes, and a verdict of not
    certified comes back as exit 1 (a result), a failed process as exit 3 (never read as a verdict)."""
    from typer.testing import CliRunner

    from synthgen.api import CRASHED, launch, verify, verify_config
    from synthgen.cli.main import app
    from synthgen.format.artifact import save_artifact

    save_artifact(tiny_artifact, tmp_path / "a.safetensors")
    cfg = verify_config(None, {"heldout": ("mlp256",), "replay": False, "peer_margin": 0.9}, quick=True)
    one = json.loads(json.dumps(verify(tmp_path / "a.safetensors", cfg).raw))  # no references: not what is tested
    args = ["verify", "a.safetensors", "--quick", "--heldout", "mlp256", "--no-replay", "--peer-margin", "0.9"]
    res = _run([*args, "--no-cache", "--certificate", "c.json"], tmp_path, default_nproc=True)  # no --nproc
    assert res.returncode == 1 and "NOT CERTIFIED" in res.stdout  # an impossible margin: a result, exit 1
    assert "ChildFailedError" not in res.stderr and "Traceback" not in res.stderr
    assert res.stdout.count("certificate:") == 1 and res.stdout.count("verification (") == 1
    spread = json.loads((tmp_path / "c.json").read_text())
    for key in ("results", "verdict", "reasons", "artifact_sha256", "thresholds"):
        assert one[key] == spread[key], key
    total, parts = one["protocol"]["spread"]["jobs_per_process"], spread["protocol"]["spread"]["jobs_per_process"]
    assert one["protocol"]["spread"]["processes"] == 1
    assert spread["protocol"]["spread"]["processes"] == len(parts) == default_processes()
    assert min(parts) > 0 and sum(parts) == total[0]  # each process ran its share
    launched = []  # the Python API's launch of the same: its command, run here in one process (launched above)
    monkeypatch.setattr(
        "synthgen.api.launch", lambda n, argv: launched.append(n) or CliRunner().invoke(app, argv).exit_code
    )
    api = verify(tiny_artifact, cfg, cache=False, nproc=2).raw
    assert launched == [2] and api["results"] == one["results"] and api["verdict"] == one["verdict"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNTHGEN_NPROC")  # the CLI's own default: a process per core
    bad = CliRunner().invoke(app, ["verify", "missing.safetensors"])
    assert bad.exit_code == 2 and bad.output.count("error:") == 1  # checked before any process starts
    threads = CliRunner().invoke(app, [*args, "--no-peers", "--threads", "1", "--certificate", "one.json"])
    assert threads.exit_code == 1  # --threads: the user sets the threads of one process, which runs here
    assert json.loads((tmp_path / "one.json").read_text())["protocol"]["spread"]["processes"] == 1
    assert launch(1, ["verify", "missing.safetensors"]) == CRASHED  # its process failed: never read as a verdict
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: a process of the 1-process run")
