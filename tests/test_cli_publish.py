"""`synthgen publish` in a subprocess against the hub on 127.0.0.1 (the steps that touch no hub run in this
process): one commit lands, tokens never show."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from synthgen.cli.main import app
from synthgen.share.export import export_folder

from .hub_servers import REJECTED, SECRET, run_cli

runner = CliRunner()


def test_verify_export_publish_then_load_dataset_pull_and_check(hub, exported, tmp_path, tiny_artifact):
    tmp, path = exported
    # verify (in this process) -> export (certificate included) -> publish through the write endpoint. 2 tasks:
    # Replay-20 is hard to beat there, so the margin is waived; the verdict itself is tested in test_verify.py
    from synthgen.api import verify, verify_config, write_verification

    write_verification(
        verify(path, verify_config(None, {"seeds": (0,), "heldout": (), "peer_margin": -1.0}, quick=True)), path
    )
    assert runner.invoke(app, ["export", str(path), "--to", str(tmp / "ds")]).exit_code == 0  # no hub: in-process
    res = run_cli(["publish", str(tmp / "ds"), "--repo", "org/tiny"], tmp, hub.write_url)
    commit_sha = res.stdout.split("commit:")[1].split()[0]
    assert len(commit_sha) == 40
    # a fresh HF cache, reads through olah: load_dataset by repo id, per task and all
    script = (
        "import datasets, json, sys; "
        "d = datasets.load_dataset('org/tiny', 'task_1', split='train').with_format('numpy')[:]; "
        "a = datasets.load_dataset('org/tiny', split='train'); "
        "print(json.dumps({'labels': d['label'].tolist(), 'n_all': len(a), 'first': float(d['pixels'][0, 0, 14, 14])}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "fresh"), HF_ENDPOINT=hub.read_url, HF_HUB_DISABLE_PROGRESS_BARS="1")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    x, y, _ = tiny_artifact.task(1)
    assert got["labels"] == y.tolist() and got["n_all"] == 20 and got["first"] == pytest.approx(float(x[0, 0, 14, 14]))
    # pull (pinned, checked) and re-check the certificate against what was pulled
    res = run_cli(["pull", "org/tiny", "--to", str(tmp_path / "pulled")], tmp_path, hub.read_url, token=None)
    assert commit_sha in res.stdout
    cert = tmp_path / "pulled" / "certificate.json"
    res = runner.invoke(app, ["verify", "--check", str(cert), str(tmp_path / "pulled")])
    assert res.exit_code == 0 and "belongs to this artifact" in res.output and "verdict: certified" in res.output
    # verify straight from the hub reference, pinned to the commit
    res = run_cli(["verify", "--check", str(cert), f"org/tiny@{commit_sha}"], tmp_path, hub.read_url, check=False)
    assert "belongs to this artifact" in res.stdout


def test_token_never_in_output(hub, exported, tmp_path):
    tmp, path = exported
    if not (tmp / "ds").exists():
        export_folder(__import__("synthgen").load(path), tmp / "ds")
    # a rejected token passed with --token (401), and a forced server failure (500) with the token in HF_TOKEN
    for flag, token, repo, expect in (
        (["--token", REJECTED], None, "org/tiny2", "refused the credentials"),
        ([], SECRET, "org/fail-repo", "hub error"),
    ):
        args = ["publish", str(tmp / "ds"), "--repo", repo, *flag]
        res = run_cli(args, tmp_path, hub.write_url, token=token, check=False)
        assert res.returncode == 2, res.stdout + res.stderr
        assert expect in res.stdout + res.stderr
        assert SECRET not in res.stdout + res.stderr  # (a prefix of REJECTED too)
        assert "Traceback" not in res.stderr
