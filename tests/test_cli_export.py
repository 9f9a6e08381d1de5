"""`synthgen export` through typer's CliRunner: the folder with its certificate and pictures, and the way back."""

import json

from typer.testing import CliRunner

from synthgen.cli.main import app
from synthgen.format.artifact import load_artifact, save_artifact

runner = CliRunner()


def test_folder_back_to_safetensors(tiny_artifact, tmp_path):
    path = save_artifact(tiny_artifact, tmp_path / "a.safetensors")
    assert runner.invoke(app, ["export", str(path), "--to", str(tmp_path / "ds")]).exit_code == 0
    res = runner.invoke(app, ["export", str(tmp_path / "ds"), "--to", str(tmp_path / "back.safetensors")])
    assert res.exit_code == 0 and tiny_artifact.sha256[:16] in res.output, res.output
    assert load_artifact(tmp_path / "back.safetensors").sha256 == tiny_artifact.sha256
    again = runner.invoke(app, ["export", str(tmp_path / "ds"), "--to", str(tmp_path / "back.safetensors")])
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_cli_export_includes_matching_certificate_and_pictures(tiny_artifact, tmp_path):
    path = save_artifact(tiny_artifact, tmp_path / "a.safetensors")
    res = runner.invoke(app, ["verify", str(path), "--quick", "--seeds", "1", "--heldout", "", "--peer-margin", "-1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["export", str(path), "--to", str(tmp_path / "ds")])
    assert res.exit_code == 0, res.output
    assert "certificate: included" in res.output
    cert = json.loads((tmp_path / "ds" / "certificate.json").read_text())
    assert cert["artifact_sha256"] == tiny_artifact.sha256
    assert (tmp_path / "ds" / "images" / "heatmap_mlp.png").exists()
    card = (tmp_path / "ds" / "README.md").read_text()
    assert "Verdict:" in card and "images/heatmap_mlp.png" in card
    # a certificate of other data is refused
    other = dict(cert, artifact_sha256="0" * 64)
    (tmp_path / "other.json").write_text(json.dumps(other))
    res = runner.invoke(
        app, ["export", str(path), "--to", str(tmp_path / "ds2"), "--certificate", str(tmp_path / "other.json")]
    )
    assert res.exit_code == 2 and "edited after it was issued" in res.output
