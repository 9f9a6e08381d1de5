"""Issue 7, rows 11-13: a killed generation resumes exactly; a full disk loses nothing; two
writers never interleave."""

import errno
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from typer.testing import CliRunner

from synthgen.cli.main import app
from synthgen.core.io import BusyError, exclusive
from synthgen.format.artifact import load_artifact, save_artifact
from synthgen.format.certificate import load_certificate, write_certificate
from synthgen.generation.checkpoint import load_checkpoint
from synthgen.generation.engine import Engine
from synthgen.share.export import export_folder, load_folder
from synthgen.verification.config import VerifyConfig
from synthgen.verification.verdict import Verdict, make_certificate

from .conftest import tiny_config

runner = CliRunner()
GEN = [
    "--tasks",
    "0,1/2,3",
    "--ipc",
    "3",
    "--inner-steps",
    "5",
    "--inits",
    "2",
    "--device",
    "cpu",
    "--learners",
    "mlp",
    "--checkpoint-every",
    "5",
    "--init",
    "kmeans",
]


def _cli(args, cwd, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "synthgen", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _step_of(ckpt):
    try:
        return load_checkpoint(ckpt)[1]["global_step"]
    except Exception:  # noqa: BLE001 - not there yet
        return -1


def test_row11_sigkill_then_resume_equals_uninterrupted(tmp_path):
    args = [*GEN, "--steps", "40"]
    victim = _cli(["generate", "--out", "run.safetensors", *args], tmp_path)
    ckpt = tmp_path / "run.ckpt.safetensors"
    deadline = time.monotonic() + 120
    while _step_of(ckpt) < 10 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert victim.poll() is None, "the run finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    assert not (tmp_path / "run.safetensors").exists()
    (tmp_path / ".synthgen-tmp-stale.safetensors").write_bytes(b"half a file")  # a stale temp from a crash
    resumed = runner.invoke(app, ["generate", "--out", str(tmp_path / "run.safetensors"), *args, "--resume"])
    assert resumed.exit_code == 0 and "resuming at outer step" in resumed.output, resumed.output
    full = runner.invoke(app, ["generate", "--out", str(tmp_path / "full.safetensors"), *args])  # uninterrupted
    assert full.exit_code == 0, full.output
    a, b = load_artifact(tmp_path / "full.safetensors"), load_artifact(tmp_path / "run.safetensors")
    assert torch.allclose(a.images, b.images, atol=1e-5) and torch.allclose(a.soft_labels, b.soft_labels, atol=1e-5)


@pytest.fixture()
def disk_full(monkeypatch):
    """Every fsync fails with ENOSPC while active (the write happened, the flush to disk did not)."""

    def arm():
        def boom(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr("synthgen.core.io.os.fsync", boom)

    return arm


def _no_temps(folder):
    return [p.name for p in folder.rglob("*") if p.name.startswith(".synthgen-tmp-") or p.name.endswith(".incomplete")]


def test_row12_disk_full_artifact_checkpoint_certificate(tiny_artifact, tmp_path, disk_full, mnist5k):
    art_path = save_artifact(tiny_artifact, tmp_path / "a.safetensors")
    issued = make_certificate(tiny_artifact, VerifyConfig(), {}, {}, Verdict(True, [], []))
    cert_path = write_certificate(issued, tmp_path / "a.certificate.json")
    engine = Engine(tiny_config(steps=2), source=mnist5k)
    ckpt = engine.save(tmp_path / "c.ckpt.safetensors")
    before = ckpt.read_bytes()
    disk_full()
    for write in (
        lambda: save_artifact(tiny_artifact, art_path),
        lambda: write_certificate(
            make_certificate(tiny_artifact, VerifyConfig(), {}, {}, Verdict(False, ["x"], [])), cert_path
        ),
        lambda: engine.save(ckpt),
    ):
        with pytest.raises(OSError, match="No space left"):
            write()
    assert load_artifact(art_path).sha256 == tiny_artifact.sha256
    assert load_certificate(cert_path) == issued and '"x"' not in cert_path.read_text()
    assert ckpt.read_bytes() == before
    assert _no_temps(tmp_path) == []


def test_row12_disk_full_export_keeps_previous_folder(tiny_artifact, tmp_path, disk_full):
    folder = export_folder(tiny_artifact, tmp_path / "ds")
    disk_full()
    with pytest.raises(OSError, match="No space left"):
        export_folder(tiny_artifact, folder, overwrite=True)
    assert load_folder(folder).sha256 == tiny_artifact.sha256
    assert _no_temps(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "ds"
    ]


def test_row12_disk_full_is_one_line_in_the_cli(tiny_artifact, tmp_path, disk_full):
    path = save_artifact(tiny_artifact, tmp_path / "a.safetensors")
    disk_full()
    res = runner.invoke(app, ["export", str(path), "--to", str(tmp_path / "ds")])
    assert res.exit_code == 2 and "No space left on device" in res.output and "Traceback" not in res.output


def test_row13_two_generates_to_the_same_output(tmp_path):
    out = tmp_path / "same.safetensors"
    out.write_bytes(b"the file the other writer will replace")
    with exclusive(out):  # another process's generate is writing this output (the API holds this lock throughout)
        second = _cli(["generate", "--out", "same.safetensors", *GEN, "--steps", "400"], tmp_path)
        _, err = second.communicate(timeout=120)
    assert second.returncode == 2 and "being written by another synthgen process" in err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert out.read_bytes() == b"the file the other writer will replace"  # untouched: no half-written output


def test_row13_two_exports_to_the_same_folder(tiny_artifact, tmp_path):
    dest = tmp_path / "ds"
    with exclusive(dest):  # another writer holds the folder
        with pytest.raises(BusyError, match="another synthgen process"):
            export_folder(tiny_artifact, dest)
    assert not dest.exists()
    export_folder(tiny_artifact, dest)
    assert load_folder(dest).sha256 == tiny_artifact.sha256
