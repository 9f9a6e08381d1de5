"""synthgen.share.hub against real servers on 127.0.0.1: olah (reads) + tests/hub_double.py (writes).

The CLI's publish and pull are tested in test_cli_publish.py / test_cli_pull.py.
"""

import json
import os
import subprocess

import pytest

from synthgen.share.export import export_folder
from synthgen.share.hub import HubError, publish, pull

from .hub_double import commit
from .hub_servers import SECRET, free_port


def test_one_commit_and_parent_commit_conflict(hub, exported, tmp_path, tiny_artifact):
    folder = export_folder(tiny_artifact, tmp_path / "ds")
    first = publish(folder, "org/conflict", token="hf_ok", endpoint=hub.write_url)
    repo = hub.mirrors / "datasets/org/conflict"
    log = subprocess.run(["git", "log", "--format=%H %s", "main"], cwd=repo, capture_output=True, text=True).stdout
    assert log.splitlines()[0].startswith(first.commit) and len(log.splitlines()) == 2  # initial + ONE publish
    files = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", "main"], cwd=repo, capture_output=True, text=True
    ).stdout
    assert "synthgen.safetensors" in files and "data/task_1/train-00000-of-00001.parquet" in files
    # someone else commits between our read of the head and our commit -> loud failure
    from huggingface_hub import HfApi

    import synthgen.share.hub as hubmod

    real_info = HfApi.dataset_info

    def racing_info(self, *a, **k):
        info = real_info(self, *a, **k)
        commit(repo, "main", {"other.txt": b"x"}, [], "concurrent publish", None)
        return info

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(HfApi, "dataset_info", racing_info)
        with pytest.raises(HubError, match="changed on the hub while publishing"):
            hubmod.publish(folder, "org/conflict", token="hf_ok", endpoint=hub.write_url)


def test_branch_revision(hub, tmp_path, tiny_artifact):
    folder = export_folder(tiny_artifact, tmp_path / "ds")
    done = publish(folder, "org/branchy", token="hf_ok", endpoint=hub.write_url, revision="v1")
    got = pull("org/branchy", revision="v1", to=tmp_path / "p", endpoint=hub.read_url)
    assert got.commit == done.commit and got.artifact.sha256 == tiny_artifact.sha256


def test_clear_errors(hub, tmp_path, tiny_artifact):
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(HubError, match="unreachable"):
        pull("org/tiny", endpoint=dead, to=tmp_path / "x")
    with pytest.raises(HubError, match="not found|refused"):
        pull("org/does-not-exist", endpoint=hub.read_url, to=tmp_path / "y")
    # a repo that is not a synthgen dataset
    publishable = hub.mirrors / "datasets/org/plain"
    publishable.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main"], cwd=publishable, check=True)
    commit(publishable, "main", {"README.md": b"# just a readme\n"}, [], "init", None)
    with pytest.raises(HubError, match="not a synthgen dataset repo"):
        pull("org/plain", endpoint=hub.read_url, to=tmp_path / "z")
    with pytest.raises(HubError, match="invalid repo id"):
        pull("../etc", endpoint=hub.read_url)


def test_unsafe_filenames_rejected_before_download(monkeypatch, tmp_path):
    from types import SimpleNamespace

    import huggingface_hub

    calls = []
    for bad in ("../evil.py", "/etc/passwd", "C:/x", "\\\\server\\share\\x", "data/../../x"):
        info = SimpleNamespace(
            sha="a" * 40, siblings=[SimpleNamespace(rfilename="synthgen.json"), SimpleNamespace(rfilename=bad)]
        )
        monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", lambda self, *a, **k: info)
        monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: calls.append(a))
        with pytest.raises(HubError, match="unsafe filename"):
            pull("org/evil", endpoint="http://127.0.0.1:9", to=tmp_path / "x")
    assert calls == [] and not (tmp_path / "x").exists()


def test_tampered_download_is_refetched_once_then_refused(hub, tmp_path, tiny_artifact):
    folder = export_folder(tiny_artifact, tmp_path / "ds")
    publish(folder, "org/tampered", token="hf_ok", endpoint=hub.write_url)
    meta = json.loads((folder / "synthgen.json").read_text())
    meta["sha256"] = "f" * 64  # the repo's metadata no longer matches its artifact
    commit(
        hub.mirrors / "datasets/org/tampered", "main", {"synthgen.json": json.dumps(meta).encode()}, [], "tamper", None
    )
    import huggingface_hub

    real = huggingface_hub.snapshot_download
    calls = []

    def counting(*a, **k):
        calls.append(k.get("force_download"))
        return real(*a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(huggingface_hub, "snapshot_download", counting)
        with pytest.raises(HubError, match="corrupt even after a fresh download"):
            pull("org/tampered", endpoint=hub.read_url, to=tmp_path / "pulled")
    assert calls == [False, True]


# ---- issue 7 rows that need the hub -------------------------------------------------------------


def test_row9_pickles_in_a_repo_are_never_downloaded(hub, tmp_path, tiny_artifact):
    import pickle

    folder = export_folder(tiny_artifact, tmp_path / "ds")
    publish(folder, "org/with-pickles", token="hf_ok", endpoint=hub.write_url)
    marker = tmp_path / "PWNED"
    # a real pickle whose loading would create the marker file (os.system on a touch command); padded past 150
    # bytes whatever the tmp path's length: olah reads files of 121-149 bytes as LFS pointers and fails on binary
    evil = pickle.dumps(type("Evil", (), {"__reduce__": lambda self: (os.system, (f"touch {marker}".ljust(200),))})())
    assert len(evil) > 150
    commit(
        hub.mirrors / "datasets/org/with-pickles",
        "main",
        {"pytorch_model.bin": evil, "model.pt": evil, "data/task_0/evil.pkl": evil},
        [],
        "add pickles",
        None,
    )
    got = pull("org/with-pickles", endpoint=hub.read_url, to=tmp_path / "pulled")
    files = {
        p.relative_to(got.folder).as_posix() for p in got.folder.rglob("*") if p.is_file() and ".cache" not in p.parts
    }
    assert not {"pytorch_model.bin", "model.pt", "data/task_0/evil.pkl"} & files
    assert "synthgen.safetensors" in files and not marker.exists()


def test_row14_corrupted_cache_blob_is_detected_and_refetched(hub, tmp_path, tiny_artifact):
    folder = export_folder(tiny_artifact, tmp_path / "ds")
    publish(folder, "org/cached", token="hf_ok", endpoint=hub.write_url)
    cache = tmp_path / "cache"
    first = pull("org/cached", endpoint=hub.read_url, cache_dir=cache)
    blob = (first.folder / "synthgen.safetensors").resolve()
    assert blob.is_relative_to(cache)
    data = bytearray(blob.read_bytes())
    data[-3] ^= 0xFF  # bit rot in the cached artifact
    blob.write_bytes(bytes(data))
    from synthgen.format.artifact import ArtifactError, load_artifact

    with pytest.raises(ArtifactError):  # verify/load would refuse the corrupted copy
        load_artifact(first.folder / "synthgen.safetensors")
    again = pull("org/cached", endpoint=hub.read_url, cache_dir=cache)  # detected by sha256, refetched once
    assert again.artifact.sha256 == tiny_artifact.sha256
    assert load_artifact(again.folder / "synthgen.safetensors").sha256 == tiny_artifact.sha256


def test_row15_secret_absent_everywhere(hub, tmp_path, tiny_artifact, monkeypatch):

    from synthgen.cli.main import app
    from synthgen.share.hub import _hub_error

    monkeypatch.setenv("HF_TOKEN", SECRET)
    folder = export_folder(tiny_artifact, tmp_path / "ds")
    done = publish(folder, "org/secret-check", endpoint=hub.write_url)  # token taken from HF_TOKEN
    got = pull("org/secret-check", endpoint=hub.read_url, to=tmp_path / "pulled")
    for root in (folder, got.folder):
        for p in root.rglob("*"):
            if p.is_file():
                assert SECRET.encode() not in p.read_bytes(), p
    # exception text from the library is scrubbed even when the server echoes the token
    err = _hub_error(RuntimeError(f"401 for token {SECRET} at /api"), "org/x", hub.write_url, SECRET)
    assert SECRET not in str(err)
    # the typer app never prints local variables in tracebacks
    assert app.pretty_exceptions_show_locals is False
    assert done.commit


def test_row16_hub_content_changed_after_certification(hub, tmp_path, tiny_artifact, hf_cache):
    import copy

    from typer.testing import CliRunner

    from synthgen.cli.main import app
    from synthgen.format.artifact import Artifact
    from synthgen.verification.config import VerifyConfig
    from synthgen.verification.verdict import Verdict, make_certificate

    cert = make_certificate(tiny_artifact, VerifyConfig(), {}, {}, Verdict(True, [], []))
    folder = export_folder(tiny_artifact, tmp_path / "v1", certificate=cert)
    v1 = publish(folder, "org/changing", token="hf_ok", endpoint=hub.write_url)
    (tmp_path / "cert.json").write_text(json.dumps(cert.to_dict()))
    other = Artifact(
        tiny_artifact.images + 0.01,
        tiny_artifact.labels,
        tiny_artifact.task_ids,
        copy.deepcopy(tiny_artifact.metadata),
        tiny_artifact.soft_labels,
    )
    publish(export_folder(other, tmp_path / "v2"), "org/changing", token="hf_ok", endpoint=hub.write_url)
    at = ["--endpoint", hub.read_url]
    res = CliRunner().invoke(app, ["verify", "--check", str(tmp_path / "cert.json"), "org/changing", *at])
    assert res.exit_code == 1
    assert tiny_artifact.sha256 in res.output and other.sha256 in res.output
    ok = CliRunner().invoke(app, ["verify", "--check", str(tmp_path / "cert.json"), f"org/changing@{v1.commit}", *at])
    assert ok.exit_code == 0 and "belongs to this artifact" in ok.stdout
