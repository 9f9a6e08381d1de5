import json

import pytest
from typer.testing import CliRunner

from synthgen.artifact import load_artifact, save_artifact
from synthgen.cli.main import app

runner = CliRunner()
FAST = ["--seeds", "2", "--heldout", "mlp256", "--no-baselines", "--max-forgetting", "0.15"]


@pytest.fixture()
def saved(tiny_artifact, tmp_path):
    return save_artifact(tiny_artifact, tmp_path / "a.safetensors")


def test_verify_certifies_writes_certificate_and_pictures(saved, tmp_path):
    res = runner.invoke(app, ["verify", str(saved), *FAST, "--embed"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "CERTIFIED" in res.output and "synthetic" in res.output
    cert = json.loads((tmp_path / "a.certificate.json").read_text())
    assert cert["verdict"] == "certified"
    for name in ("heatmap_mlp.png", "curve_mlp.png", "heatmap_mlp256.png"):
        assert (tmp_path / "a.verify" / name).read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "a.verify" / "tasks_mlp.png").exists()  # no joint baseline was run
    # embedded without changing the tensor hash
    art = load_artifact(saved)
    assert art.metadata["certificate"]["verdict"] == "certified" and art.sha256 == cert["artifact_sha256"]
    # --check passes ...
    ok = runner.invoke(app, ["verify", "--check", str(tmp_path / "a.certificate.json"), str(saved)])
    assert ok.exit_code == 0 and "belongs to this artifact" in ok.output
    # ... and fails on a one-pixel change (re-saved, so the file itself is valid)
    art.images[0, 0, 10, 10] += 0.01
    save_artifact(art, tmp_path / "b.safetensors")
    bad = runner.invoke(app, ["verify", "--check", str(tmp_path / "a.certificate.json"), str(tmp_path / "b.safetensors")])
    assert bad.exit_code == 1 and "check failed" in bad.output and cert["artifact_sha256"] in bad.output


def test_baselines_add_the_per_task_picture(saved, tmp_path):
    """With the baselines, verify draws each task's final accuracy next to the joint upper bound."""
    res = runner.invoke(app, ["verify", str(saved), "--seeds", "1", "--heldout", "", "--max-forgetting", "0.15"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "a.verify" / "tasks_mlp.png").read_bytes()[:4] == b"\x89PNG"
    joint = json.loads((tmp_path / "a.certificate.json").read_text())["results"]["mlp"]["methods"]["joint (upper bound)"]
    assert len(joint["per_task_final"]) == 2 and min(joint["per_task_final"]) > 0.9


def test_not_certified_exits_1(saved):
    res = runner.invoke(app, ["verify", str(saved), *FAST, "--min-acc", "0.999"])
    assert res.exit_code == 1 and "NOT CERTIFIED" in res.output


@pytest.mark.parametrize("make,msg", [
    (lambda p: p / "missing.safetensors", "no such file"),
    (lambda p: (p / "w.safetensors").write_bytes(b"garbage!") and p / "w.safetensors", "truncated|too short|cap|not valid"),
])
def test_bad_inputs_exit_2(tmp_path, make, msg):
    import re

    res = runner.invoke(app, ["verify", str(make(tmp_path))])
    assert res.exit_code == 2 and re.search(msg, res.output) and "Traceback" not in res.output


def test_tampered_hash_and_unknown_arch_exit_2(saved, tmp_path):
    from synthgen.artifact import read_header

    header, _ = read_header(saved)
    data = bytearray(saved.read_bytes())
    hlen = int.from_bytes(data[:8], "little")
    data[8 + hlen + header["images"]["data_offsets"][0]] ^= 0x01  # lowest mantissa bit of one pixel
    (tmp_path / "t.safetensors").write_bytes(bytes(data))
    res = runner.invoke(app, ["verify", str(tmp_path / "t.safetensors")])
    assert res.exit_code == 2 and "sha256 mismatch" in res.output
    res = runner.invoke(app, ["verify", str(saved), "--heldout", "resnet"])
    assert res.exit_code == 2 and "unknown learner 'resnet'" in res.output


def test_check_with_broken_certificate_exit_2(saved, tmp_path):
    (tmp_path / "c.json").write_text("{not json")
    res = runner.invoke(app, ["verify", "--check", str(tmp_path / "c.json"), str(saved)])
    assert res.exit_code == 2 and "not valid JSON" in res.output
