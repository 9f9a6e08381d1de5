"""`synthgen pull` against the hub on 127.0.0.1: pinned, checked, one-line errors. One pull runs in a subprocess
(HF_ENDPOINT read from the environment, as a user's shell sets it); the rest in this process with --endpoint."""

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
    pinned = CliRunner().invoke(
        app, ["pull", f"org/pullme@{done.commit}", "--to", str(tmp_path / "pinned"), "--endpoint", hub.read_url]
    )
    assert pinned.exit_code == 0 and done.commit in pinned.stdout, pinned.output
    assert load_artifact(tmp_path / "pinned" / "synthgen.safetensors").sha256 == tiny_artifact.sha256


def test_pull_errors_are_one_line_and_exit_2(hub, tmp_path, capfd):
    for args, msg in (
        (["pull", "../etc"], "invalid repo id"),  # refused before any request
        (["pull", "org/nothing-here", "--endpoint", hub.read_url], "not found"),
        (["pull", "org/x", "--endpoint", f"http://127.0.0.1:{free_port()}"], "unreachable"),
    ):
        res = CliRunner().invoke(app, [*args, "--to", str(tmp_path / "x")])
        assert res.exit_code == 2 and msg in res.stderr and "Traceback" not in res.output, res.output
        assert res.stdout == "" and len(res.stderr.strip().splitlines()) == 1
        assert capfd.readouterr() == ("", "")  # nothing else reached the terminal (a library's log or warning)
