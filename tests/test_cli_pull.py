"""`synthgen pull` in a subprocess against the hub on 127.0.0.1: pinned, checked, one-line errors."""

from typer.testing import CliRunner

from synthgen.cli.main import app
from synthgen.format.artifact import load_artifact
from synthgen.share.export import export_folder
from synthgen.share.hub import publish

from .hub_servers import free_port, run_cli


def test_pull_pins_the_commit_checks_the_hash_and_writes_the_folder(hub, tiny_artifact, tmp_path):
    done = publish(export_folder(tiny_artifact, tmp_path / "ds"), "org/pullme", token="hf_ok", endpoint=hub.write_url)
    res = run_cli(["pull", "org/pullme", "--to", str(tmp_path / "got")], tmp_path, hub.read_url, token=None)
    assert f"commit: {done.commit}" in res.stdout and tiny_artifact.sha256[:16] in res.stdout
    assert load_artifact(tmp_path / "got" / "synthgen.safetensors").sha256 == tiny_artifact.sha256
    pinned = run_cli(
        ["pull", f"org/pullme@{done.commit}", "--to", str(tmp_path / "pinned")], tmp_path, hub.read_url, token=None
    )
    assert done.commit in pinned.stdout


def test_pull_errors_are_one_line_and_exit_2(hub, tmp_path):
    bad_id = CliRunner().invoke(app, ["pull", "../etc"])  # refused before any request: in this process
    assert bad_id.exit_code == 2 and "invalid repo id" in bad_id.output and len(bad_id.output.splitlines()) == 1
    for args, endpoint, msg in (
        (["pull", "org/nothing-here"], hub.read_url, "not found"),
        (["pull", "org/x"], f"http://127.0.0.1:{free_port()}", "unreachable"),
    ):
        res = run_cli(args, tmp_path, endpoint, token=None, check=False)
        assert res.returncode == 2 and msg in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
