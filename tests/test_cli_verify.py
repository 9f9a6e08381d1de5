"""`synthgen verify` through typer's CliRunner: exit codes, certificate, pictures, --model, --config."""

import json
import re

import pytest
from typer.testing import CliRunner

from synthgen.cli.main import app
from synthgen.format.artifact import load_artifact, save_artifact

from .conftest import ONE

runner = CliRunner()
FAST = [
    "--quick",
    "--heldout",
    "",
]  # the MLP alone, 2 seeds, peers and joint at lr 1e-3 only, no memory-free strategies


@pytest.fixture()
def saved(tiny_artifact, tmp_path):
    """The 2-task artifact (20 images): the CLI's plumbing, seconds per verify."""
    return save_artifact(tiny_artifact, tmp_path / "a.safetensors")


@pytest.fixture()
def saved_small(small_artifact, tmp_path):
    """The 5-task artifact (50 images), which the quick verify certifies."""
    return save_artifact(small_artifact, tmp_path / "a.safetensors")


def test_verify_certifies_writes_certificate_and_pictures(saved_small, tmp_path):
    saved = saved_small
    res = runner.invoke(app, ["verify", str(saved), *FAST, "--embed"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "CERTIFIED" in res.output and "Replay-50" in res.output and "GDumb-50" in res.output
    cert = json.loads((tmp_path / "a.certificate.json").read_text())
    assert cert["verdict"] == "certified"
    for name in ("heatmap_mlp.png", "curve_mlp.png", "tasks_mlp.png"):
        assert (tmp_path / "a.verify" / name).read_bytes()[:4] == b"\x89PNG"
    art = load_artifact(saved)  # embedded without changing the tensor hash
    assert art.metadata["certificate"]["verdict"] == "certified" and art.sha256 == cert["artifact_sha256"]
    ok = runner.invoke(app, ["verify", "--check", str(tmp_path / "a.certificate.json"), str(saved)])
    assert ok.exit_code == 0 and "belongs to this artifact" in ok.output
    art.images[0, 0, 10, 10] += 0.01  # a one-pixel change, re-saved, so the file itself is valid
    save_artifact(art, tmp_path / "b.safetensors")
    bad = runner.invoke(
        app, ["verify", "--check", str(tmp_path / "a.certificate.json"), str(tmp_path / "b.safetensors")]
    )
    assert bad.exit_code == 1 and "check failed" in bad.output and cert["artifact_sha256"] in bad.output


def test_not_certified_exits_1_and_names_the_peer(saved):
    res = runner.invoke(app, ["verify", str(saved), *FAST, "--peer-margin", "0.5"], env={"COLUMNS": "200"})
    assert res.exit_code == 1 and "NOT CERTIFIED" in res.output
    assert re.search(r"vs GDumb-20 .* FAILS margin >= \+0\.500", res.output)


def test_a_log_gets_plain_progress_lines(saved):
    res = runner.invoke(app, ["verify", str(saved), *FAST], env={"SYNTHGEN_PROGRESS_EVERY": "0", "COLUMNS": "200"})
    assert res.exit_code in (0, 1), res.output
    lines = [line for line in res.output.splitlines() if line.startswith("verify: last cell ")]
    total = int(re.search(r"/(\d+) cells done", lines[0]).group(1))
    assert len(lines) == total and f"{total}/{total} cells done" in lines[-1]


def test_your_own_model_is_verified_and_recorded(saved, tmp_path, consumer_nets):
    res = runner.invoke(app, ["verify", str(saved), *FAST, "--model", f"{consumer_nets}:wide"])
    assert res.exit_code in (0, 1), res.output
    cert = json.loads((tmp_path / "a.certificate.json").read_text())
    assert res.exit_code == (0 if cert["verdict"] == "certified" else 1)
    mine = cert["results"][f"{consumer_nets}:wide"]
    assert (mine["group"], mine["family"], mine["params"]) == ("user", "user", 784 * 300 + 300 + 300 * 10 + 10)
    assert any(r.startswith(f"{consumer_nets}:wide (user): final ACC") for r in cert["reasons"])  # it counts


@pytest.mark.parametrize(
    "spec,msg",
    [
        ("nowhere_xyz:build", "cannot import module 'nowhere_xyz'"),
        ("consumer_nets:missing", "has no attribute 'missing'"),
        ("consumer_nets:not_a_module", "returned str, not a torch.nn.Module"),
    ],
)
def test_a_bad_model_is_one_line_and_exit_2(saved, consumer_nets, spec, msg):
    res = runner.invoke(app, ["verify", str(saved), *FAST, "--model", spec])
    assert res.exit_code == 2 and msg in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_too_many_seeds_is_one_short_line_and_exit_2(saved):
    """`--seeds N` means N fresh learners per arch: a million is refused at once, and not echoed back in full."""
    res = runner.invoke(app, ["verify", str(saved), "--seeds", "1000000"])
    assert res.exit_code == 2 and "option --seeds" in res.output and "at most 100" in res.output
    assert len(res.output.strip().splitlines()) == 1 and len(res.output) < 300


def test_config_file_and_flags_merge_with_flags_winning(saved, tmp_path):
    cfg = tmp_path / "v.json"
    cfg.write_text(
        json.dumps(
            {
                "seeds": [0, 1, 2],
                "heldout": [],
                **ONE,
                "memory_free": False,
                "peer_margin": 0.5,
            }
        )
    )
    res = runner.invoke(app, ["verify", str(saved), "--config", str(cfg), "--seeds", "1"])
    cert = json.loads((tmp_path / "a.certificate.json").read_text())
    assert cert["protocol"]["seeds"] == [0]  # the flag won
    assert cert["thresholds"]["peer_margin"] == 0.5 and list(cert["results"]) == ["mlp"]  # the file's values stayed
    assert res.exit_code == 1
    (tmp_path / "bad.json").write_text(json.dumps({"seeds": "0,1"}))
    bad = runner.invoke(app, ["verify", str(saved), "--config", str(tmp_path / "bad.json")])
    assert bad.exit_code == 2 and "seeds" in bad.output and "Traceback" not in bad.output


def test_references_run_on_fewer_seeds_and_the_table_and_card_say_so(saved, tmp_path):
    """Replay and the memory-free strategies run on the first ``reference_seeds`` seeds, the joint bound on the
    first ``joint_seeds``; the judged methods on all."""
    from rich.console import Console

    from synthgen import export
    from synthgen.cli.verify import results_table
    from synthgen.format.certificate import Certificate

    cfg = tmp_path / "v.json"
    cfg.write_text(
        json.dumps(
            {
                "seeds": [0, 1],
                "heldout": [],
                **ONE,
                "reference_seeds": 1,
                "joint_seeds": 1,
                "memory_free": True,
            }
        )
    )
    res = runner.invoke(app, ["verify", str(saved), "--config", str(cfg)], env={"COLUMNS": "200"})
    assert res.exit_code in (0, 1), res.output
    cert = json.loads((tmp_path / "a.certificate.json").read_text())
    methods = cert["results"]["mlp"]["methods"]
    assert cert["protocol"]["reference_seeds"] == cert["protocol"]["joint"]["seeds"] == [0]
    assert methods["joint (upper bound)"]["seeds"] == methods["EWC"]["seeds"] == [0]
    assert methods["synthetic"]["seeds"] == methods["Random-20"]["seeds"] == methods["GDumb-20"]["seeds"] == [0, 1]
    assert methods["Replay-20"]["seeds"] == methods["Replay-100"]["seeds"] == [0]
    console = Console(width=200, record=True)  # the table as a wide terminal shows it
    console.print(results_table(Certificate.from_dict(cert)))
    table = console.export_text()
    assert "joint (upper bound) (1 seed)" in table and "Naive (1 seed)" in table
    assert re.search(r"GDumb-20\s*│", table) and "GDumb-20 (" not in table and "Replay-20 (1 seed)" in table
    narrow = Console(width=80, record=True)  # a log file: the method names fold, never "Repla…" for both replays
    narrow.print(results_table(Certificate.from_dict(cert)))
    text = narrow.export_text()
    assert "Repla…" not in text and text.count("Replay-") == 2 and text.count("Herding-20") == 1
    card = (export(saved, tmp_path / "folder") / "README.md").read_text()
    names = "Replay-20, Replay-100, Naive, EWC, SI, LwF, joint (upper bound)"
    assert f"seeds [0, 1]; {names} on seeds [0]," in card


def test_the_card_names_only_the_methods_that_ran_on_fewer_seeds(saved, tmp_path):
    """Without Replay and the memory-free strategies, the card's seed note names the joint bound alone."""
    from synthgen import export

    cfg = tmp_path / "v.json"
    only_joint = {"replay": False, "memory_free": False, "joint_seeds": 1}
    cfg.write_text(json.dumps({"seeds": [0, 1], "heldout": [], **ONE, **only_joint}))
    res = runner.invoke(app, ["verify", str(saved), "--config", str(cfg)])
    assert res.exit_code in (0, 1), res.output
    card = (export(saved, tmp_path / "folder") / "README.md").read_text()
    assert "seeds [0, 1]; joint (upper bound) on seeds [0], evaluated" in card


@pytest.mark.parametrize(
    "make,msg",
    [
        (lambda p: p / "missing.safetensors", "no such file"),
        (
            lambda p: (p / "w.safetensors").write_bytes(b"garbage!") and p / "w.safetensors",
            "truncated|too short|cap|not valid",
        ),
    ],
)
def test_bad_inputs_exit_2(tmp_path, make, msg):
    res = runner.invoke(app, ["verify", str(make(tmp_path))])
    assert res.exit_code == 2 and re.search(msg, res.output) and "Traceback" not in res.output


def test_tampered_hash_and_unknown_arch_exit_2(saved, tmp_path):
    from synthgen.format.safetensors import read_header

    header, _ = read_header(saved, lambda p, m: ValueError(m))
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


def test_cache_dir_is_reused_and_no_cache_computes_everything(saved, tmp_path):
    cells = tmp_path / "cells"
    args = ["verify", str(saved), *FAST, "--cache-dir", str(cells)]
    first = runner.invoke(app, args, env={"COLUMNS": "200"})
    n = len(list(cells.glob("*/*.json")))
    assert first.exit_code in (0, 1) and n > 0 and "from the cache" not in first.output
    again = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert again.exit_code == first.exit_code and f"reused {n} cells" in again.output
    off = runner.invoke(app, [*args[:-1], str(tmp_path / "unused"), "--no-cache"], env={"COLUMNS": "200"})
    assert off.exit_code == first.exit_code and not (tmp_path / "unused").exists()
    assert "cache" not in json.loads((tmp_path / "a.certificate.json").read_text())["protocol"]["spread"]


def test_no_replay_leaves_out_the_references_that_train_on_the_whole_stream(saved, tmp_path):
    res = runner.invoke(app, ["verify", str(saved), *FAST, "--no-replay", "--certificate", str(tmp_path / "c.json")])
    assert res.exit_code in (0, 1), res.output
    methods = json.loads((tmp_path / "c.json").read_text())["results"]["mlp"]["methods"]
    assert "GDumb-20" in methods and "Random-20" in methods and not any(m.startswith("Replay") for m in methods)
