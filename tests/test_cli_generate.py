"""`synthgen generate` through typer's CliRunner: writes artifact + preview, errors are one line."""

import pytest
from typer.testing import CliRunner

from synthgen.cli.main import app
from synthgen.format.artifact import load_artifact

runner = CliRunner()
TINY = [
    "--tasks",
    "0,1/2,3",
    "--ipc",
    "2",
    "--inner-steps",
    "2",
    "--steps",
    "6",
    "--inits",
    "1",
    "--device",
    "cpu",
    "--learners",
    "mlp",
    "--init",
    "kmeans",
]


def test_help_lists_commands():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("generate", "inspect"):
        assert cmd in res.output


def test_generate_help_groups_the_options_and_keeps_each_options_help():
    res = runner.invoke(app, ["generate", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    at = {p: res.output.index(f"─ {p} ─") for p in ("What to learn", "The method (advanced)", "Running")}
    starts = sorted(at.values())

    def panel_of(option: str) -> str:  # the panel whose box the option's line falls in
        where = res.output.index(f"│ {option} ")
        return next(p for p, i in at.items() if i == max(i for i in starts if i < where))

    assert panel_of("--ipc") == panel_of("--source") == "What to learn"
    assert panel_of("--inner-momentum") == panel_of("--learners") == "The method (advanced)"
    assert panel_of("--device") == "Running"
    assert "artifact file to write" in res.output and "--resume/--no-resume" not in res.output


def test_a_log_gets_plain_progress_lines(tmp_path):
    """Not a terminal (a log under nohup): plain lines with the work done, elapsed and left; here one per step."""
    out = tmp_path / "p.safetensors"
    res = runner.invoke(app, ["generate", "--out", str(out), *TINY], env={"SYNTHGEN_PROGRESS_EVERY": "0"})
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("generate: ")]
    assert len(lines) == 6 and lines[0].startswith("generate: task 1/2, meta-loss ")
    assert "6/6 outer steps done" in lines[-1] and "s elapsed" in lines[-1] and "s left" in lines[0]
    quiet = runner.invoke(app, ["generate", "--out", str(tmp_path / "q.safetensors"), *TINY])  # every 30 s
    assert not [line for line in quiet.output.splitlines() if line.startswith("generate: ")]


def test_tiny_generate_writes_artifact_and_preview(tmp_path):
    out = tmp_path / "a.safetensors"
    res = runner.invoke(app, ["generate", "--out", str(out), *TINY])
    assert res.exit_code == 0, res.output
    art = load_artifact(out)
    assert art.images.shape == (8, 1, 28, 28) and art.tasks == [(0, 1), (2, 3)]
    png = tmp_path / "a.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in res.output and str(png) in res.output
    assert not (tmp_path / "a.ckpt.safetensors").exists()


def test_inner_lr_momentum_and_init_options_reach_the_artifact(tmp_path):
    outs = {}
    budget = ["--init-steps", "3", "--init-real", "5"]
    for lr, momentum, init in (("0.01", "0", "real"), ("0.2", "0.3", "dm")):
        outs[lr] = tmp_path / f"lr{lr}.safetensors"
        res = runner.invoke(
            app,
            ["generate", "--out", str(outs[lr]), *TINY, "--inner-lr", lr, "--inner-momentum", momentum, "--init", init]
            + budget,
        )
        assert res.exit_code == 0, res.output
    low, high = (load_artifact(outs[lr]) for lr in ("0.01", "0.2"))
    assert low.metadata["generation"]["config"]["inner_lr"] == 0.01
    assert (low.recipe["momentum"], high.recipe["momentum"]) == (0.0, 0.3)
    assert high.metadata["generation"]["config"]["inner_momentum"] == 0.3
    assert (low.metadata["generation"]["config"]["init"], high.metadata["generation"]["config"]["init"]) == (
        "real",
        "dm",
    )
    made = high.metadata["generation"]["config"]
    assert (made["init_steps"], made["init_real"]) == (3, 5)
    # 8 outer steps move a log-lr by at most ~8 x lr_lr: the learned lrs stay near where they started
    assert max(low.recipe["lr_per_task"]) < 0.02 < 0.1 < min(high.recipe["lr_per_task"])


def test_generate_resume_continues_from_checkpoint(tmp_path):
    import torch

    from synthgen.data.config import TaskConfig
    from synthgen.format.artifact import siblings
    from synthgen.generation.config import GenerateConfig, LearnerConfig
    from synthgen.generation.engine import Engine

    full = tmp_path / "full.safetensors"
    assert runner.invoke(app, ["generate", "--out", str(full), *TINY]).exit_code == 0
    # the same run as the CLI's, killed after step 4 with a checkpoint at step 3
    out = tmp_path / "r.safetensors"
    cfg = GenerateConfig(
        tasks=TaskConfig(split="0,1/2,3"),
        ipc=2,
        inner_steps=2,
        steps=6,
        inits_per_step=1,
        device="cpu",
        learners=LearnerConfig(archs=("mlp",)),
        checkpoint_every=1,
        init="kmeans",
    )

    def kill(info):
        if info.global_step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Engine(cfg, checkpoint_path=siblings(out).checkpoint).run(kill)
    res = runner.invoke(app, ["generate", "--out", str(out), *TINY, "--resume"])
    assert res.exit_code == 0, res.output
    assert "resuming at outer step 3" in res.output
    assert torch.allclose(load_artifact(out).images, load_artifact(full).images, atol=1e-5)


BAD_INPUT = {  # arguments -> the one line that names the problem
    "--tasks 0,1/1,2": "appears twice",
    "--tasks 0,1/2,42": "unknown class",
    "--learners resnet": "unknown learner 'resnet'",
    "--source nope": "unknown source",
    "--ipc 0": "option --ipc: GenerateConfig: ipc: Input should be greater than or equal to 1 (got 0)",
    "--inner-lr 0": "option --inner-lr: GenerateConfig: inner_lr: Input should be greater than or equal to 0.00000",
    "--inner-momentum 1": "option --inner-momentum: GenerateConfig: inner_momentum: Input should be less than 1",
    "--init centroids": "option --init: GenerateConfig: init: Input should be 'real', 'kmeans', 'noise' or 'dm'",
    "--seed -1": "option --seed: GenerateConfig: seed: Input should be greater than or equal to 0 (got -1)",
    "--inits 0": "option --inits: GenerateConfig: inits_per_step: Input should be greater than or equal to 1",
    "--scenario domain": "option --scenario: GenerateConfig.tasks -> TaskConfig: scenario:",
    "--threads 0": "--threads must be between 1 and",
    "--feature-arch nope": "option --feature-arch: GenerateConfig: feature_arch: not a zoo learner; known: mlp, ",
    "--feature-weight -1": "option --feature-weight: GenerateConfig: feature_weight: Input should be greater than",
}


@pytest.mark.parametrize("args", sorted(BAD_INPUT))
def test_bad_input_is_one_line_exit_2(tmp_path, args):
    msg = BAD_INPUT[args]
    res = runner.invoke(app, ["generate", "--out", str(tmp_path / "x.safetensors"), "--steps", "1", *args.split()])
    assert res.exit_code == 2
    assert msg in res.output and len(res.output.strip().splitlines()) == 1
    assert "Traceback" not in res.output
    assert not (tmp_path / "x.safetensors").exists()


def test_cli_process_imports_light_and_generates_without_loading_triton(tmp_path):
    """A real CLI process: importing the CLI leaves torchvision (~160 MB of RSS, docs/benchmarks.md), matplotlib and
    datasets unloaded (they load when a grid is drawn or a folder exported); a generate imports torch._dynamo
    (torch.func.grad does) but keeps triton out."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import sys, json\nfrom synthgen.cli.main import main\n"
        "heavy = sorted(m for m in ('torchvision', 'matplotlib', 'datasets') if m in sys.modules)\n"
        "sys.argv = ['synthgen', *json.loads(sys.argv[1])]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "t = sys.modules.get('triton', 'absent')\n"
        "state = 'blocked' if t is None else 'absent' if t == 'absent' else 'loaded'\n"
        "print('HEAVY', heavy)\nprint('TRITON', state, 'torch._dynamo' in sys.modules)"
    )
    args = ["generate", "--out", str(tmp_path / "a.safetensors"), *TINY]
    env = {k: v for k, v in os.environ.items() if k != "SYNTHGEN_ALLOW_TRITON"}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert "HEAVY []" in lines, out.stdout
    assert [ln for ln in lines if ln.startswith("TRITON")][-1] == "TRITON blocked True"  # grad imported dynamo
    assert (tmp_path / "a.safetensors").exists()


def test_synthgen_allow_triton_leaves_triton_to_torch(monkeypatch):
    import sys

    from synthgen.cli.main import keep_triton_out

    monkeypatch.setattr(sys, "modules", {k: v for k, v in sys.modules.items() if k != "triton"})
    monkeypatch.setenv("SYNTHGEN_ALLOW_TRITON", "1")
    assert keep_triton_out() is False and "triton" not in sys.modules
    monkeypatch.setenv("SYNTHGEN_ALLOW_TRITON", "")
    assert keep_triton_out() is True and sys.modules["triton"] is None


def test_config_file_and_flags_merge_with_flags_winning(tmp_path):
    import json

    cfg = {
        "tasks": {"split": "0,1/2,3"},
        "ipc": 2,
        "inner_steps": 2,
        "steps": 4,
        "seed": 5,
        "learners": {"archs": ["mlp"]},
        "device": "cpu",
        "inits_per_step": 1,
        "init": "kmeans",
    }
    (tmp_path / "g.json").write_text(json.dumps(cfg))
    out = tmp_path / "m.safetensors"
    res = runner.invoke(
        app,
        [
            "generate",
            "--config",
            str(tmp_path / "g.json"),
            "--out",
            str(out),
            "--seed",
            "7",
            "--scenario",
            "task-incremental",
        ],
    )
    assert res.exit_code == 0, res.output
    got = load_artifact(out).metadata["generation"]["config"]
    assert (got["seed"], got["ipc"], got["tasks"]) == (7, 2, {"split": "0,1/2,3", "scenario": "task-incremental"})
    (tmp_path / "bad.json").write_text(json.dumps({**cfg, "ipc": "2"}))
    bad = runner.invoke(
        app, ["generate", "--config", str(tmp_path / "bad.json"), "--out", str(tmp_path / "b.safetensors")]
    )
    assert bad.exit_code == 2 and "ipc: Input should be a valid integer" in bad.output


def test_generate_with_verify_runs_verify_on_its_output_and_returns_its_exit_code(tmp_path, monkeypatch):
    import synthgen.cli.generate as command

    calls = []
    monkeypatch.setattr(command.subprocess, "call", lambda args: calls.append(args) or 1)  # 1: not certified
    out = tmp_path / "v.safetensors"
    res = runner.invoke(app, ["generate", "--out", str(out), "--verify", *TINY])
    assert res.exit_code == 1 and load_artifact(out).images.shape == (8, 1, 28, 28)
    assert [a[-3:] for a in calls] == [["synthgen", "verify", str(out)]]
    many = runner.invoke(app, ["generate", "--out", str(tmp_path / "w.safetensors"), "--verify", "--nproc", "2"])
    assert many.exit_code == 2 and "--verify runs beside a one-process generate" in many.output


def test_no_rehearsal_flag_brings_its_preset(tmp_path):
    """`--no-rehearsal` applies the `no-rehearsal` preset under the flags given: its recipe takes exactly the steps
    the meta-gradient unrolled (scale 1, where the default declares 2x) and trains each task on its own images."""
    out = tmp_path / "seq.safetensors"
    res = runner.invoke(app, ["generate", "--out", str(out), *TINY, "--no-rehearsal", "--refine-steps", "1"])
    assert res.exit_code == 0, res.output
    recipe = load_artifact(out).recipe
    assert recipe["rehearsal"] is False and recipe["steps_per_task"] == 2  # --inner-steps 2, scale 1
