import json

from typer.testing import CliRunner

from synthgen.cli.main import app
from synthgen.format.artifact import save_artifact

runner = CliRunner()


def test_inspect_prints_metadata_and_writes_grid(tiny_artifact, tmp_path):
    path = save_artifact(tiny_artifact, tmp_path / "a.safetensors")
    res = runner.invoke(app, ["inspect", str(path)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    for text in ("mnist-5k", "0,1 / 2,3", "class-incremental", tiny_artifact.sha256, "torch.optim.SGD"):
        assert text in res.output
    grid = tmp_path / "a.grid.png"
    assert grid.read_bytes()[:4] == b"\x89PNG"


def test_inspect_json(tiny_artifact, tmp_path):
    path = save_artifact(tiny_artifact, tmp_path / "a.safetensors")
    res = runner.invoke(app, ["inspect", str(path), "--json"])
    assert res.exit_code == 0
    assert json.loads(res.output)["tasks"] == [[0, 1], [2, 3]]


def test_inspect_bad_file_one_line(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 5)
    res = runner.invoke(app, ["inspect", str(bad)])
    assert res.exit_code == 2 and "truncated" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["inspect", str(tmp_path / "missing.safetensors")])
    assert res.exit_code == 2 and "no such file" in res.output
