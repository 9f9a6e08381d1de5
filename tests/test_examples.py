"""The examples run as a user runs them (a fresh process, at a tiny scale), and the docs quote them exactly."""

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthgen.cli.main import app
from synthgen.format.artifact import load_artifact, save_artifact
from synthgen.share.export import export_folder

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run(script: str, *args: str, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def test_quickstart_generates_trains_verifies_and_exports(tmp_path):
    out = _run("quickstart.py", str(tmp_path), "--tiny", cwd=tmp_path)
    art = load_artifact(tmp_path / "my.safetensors")
    assert art.tasks == [(0, 1), (2, 3)] and len(art.labels) == 20
    assert out.splitlines()[0] in ("certified", "not certified")
    assert any(line.startswith("quickstart:build (user): final ACC") for line in out.splitlines())  # judged too
    assert (tmp_path / "my.certificate.json").exists() and (tmp_path / "my_hf" / "README.md").exists()


@pytest.mark.parametrize("options", [{}, {"dsa": True, "lr_schedule": "cosine"}], ids=["plain", "dsa-cosine"])
def test_train_in_sequence_learns_from_the_artifact(tiny_artifact, tmp_path, options):
    meta = {**tiny_artifact.metadata, "recipe": {**tiny_artifact.recipe, **options}}
    path = save_artifact(dataclasses.replace(tiny_artifact, metadata=meta), tmp_path / "a.safetensors")
    out = _run("train_in_sequence.py", str(path), "mlp", cwd=tmp_path)
    acc = float(re.search(r"real test images: ([0-9.]+)", out).group(1))
    assert acc > 0.3, out  # 4 of the 10 classes taught (the best possible is 0.4); chance is 0.1


def test_load_with_datasets_reads_the_exported_folder(tiny_artifact, tmp_path):
    folder = export_folder(tiny_artifact, tmp_path / "ds")
    out = _run("load_with_datasets.py", str(folder), cwd=tmp_path)
    assert "task 1: (10, 1, 28, 28) images, soft labels (10, 10), labels [2, 3]" in out


def test_publish_lands_one_commit_that_pull_gets_back(hub, tiny_artifact, tmp_path):
    folder = export_folder(tiny_artifact, tmp_path / "ds")
    env = {
        "HF_ENDPOINT": hub.write_url,
        "HF_TOKEN": "hf_validtoken",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_DISABLE_XET": "1",
    }
    out = _run("publish.py", str(folder), "org/example", cwd=tmp_path, env=env)
    commit = out.split("commit:")[1].split()[0]
    res = CliRunner().invoke(
        app, ["pull", f"org/example@{commit}", "--to", str(tmp_path / "got"), "--endpoint", hub.read_url]
    )
    assert commit in res.stdout, res.output
    assert load_artifact(tmp_path / "got" / "synthgen.safetensors").sha256 == tiny_artifact.sha256


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


@pytest.mark.parametrize("doc", ["README.md", *sorted(p.name for p in (ROOT / "docs").glob("*.md"))])
def test_every_python_snippet_in_the_docs_is_an_example_that_runs(doc):
    """Each ```python block's lines appear, in order, in one of the example files (the tests above run them)."""
    path = ROOT / doc if doc == "README.md" else ROOT / "docs" / doc
    files = [[line.strip() for line in p.read_text().splitlines()] for p in EXAMPLES.glob("*.py")]
    for block in _python_blocks(path):
        lines = [line.strip() for line in block.splitlines() if line.strip()]

        def quoted_by(source: list[str]) -> bool:
            at = iter(source)
            return all(any(line == s for s in at) for line in lines)

        assert any(quoted_by(f) for f in files), f"{doc}: a snippet that no example runs:\n{block}"
