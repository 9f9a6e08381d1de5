"""The hub round trip against real servers on 127.0.0.1: olah (reads) + tests/hub_double.py (writes).

CLI steps run as subprocesses with their own HF_HOME and HF_ENDPOINT (set before the HF
libraries are imported, as a user's shell would).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthgen.artifact import save_artifact
from synthgen.hf_export import export_folder
from synthgen.hub import HubError, publish, pull

from .hub_double import commit
from .hub_servers import free_port, running_hub

SECRET = "hf_TESTSECRET"
REJECTED = "hf_TESTSECRETREJECTED"  # the write double answers 401 to this one


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("hub"), ("--reject-token", REJECTED)) as h:
        yield h


def run_cli(args, tmp, endpoint, token="hf_validtoken", check=True, extra_env=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp / "hf_home"), HF_HUB_DISABLE_XET="1", HF_ENDPOINT=endpoint,
               HF_HUB_DISABLE_PROGRESS_BARS="1", **({"HF_TOKEN": token} if token else {}), **(extra_env or {}))
    res = subprocess.run([sys.executable, "-m", "synthgen", *args], capture_output=True, text=True, env=env,
                         cwd=tmp, timeout=300)
    if check:
        assert res.returncode == 0, res.stdout + res.stderr
    return res


@pytest.fixture(scope="module")
def exported(tiny_artifact, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pub")
    path = save_artifact(tiny_artifact, tmp / "tiny.safetensors")
    return tmp, path


def test_end_to_end_generate_verify_export_publish_load_pull_check(hub, exported, tmp_path, tiny_artifact):
    tmp, path = exported
    # verify -> export (certificate included) -> publish through the write endpoint
    run_cli(["verify", str(path), "--seeds", "1", "--heldout", "mlp256", "--no-baselines", "--max-forgetting", "0.2"],
            tmp, hub.read_url)
    run_cli(["export", str(path), "--to", str(tmp / "ds")], tmp, hub.read_url)
    res = run_cli(["publish", str(tmp / "ds"), "--repo", "org/tiny"], tmp, hub.write_url)
    commit_sha = res.stdout.split("commit:")[1].split()[0]
    assert len(commit_sha) == 40
    # a fresh HF cache, reads through olah: load_dataset by repo id, per task and all
    script = ("import datasets, json, sys; "
              "d = datasets.load_dataset('org/tiny', 'task_1', split='train').with_format('numpy')[:]; "
              "a = datasets.load_dataset('org/tiny', split='train'); "
              "print(json.dumps({'labels': d['label'].tolist(), 'n_all': len(a), 'first': float(d['pixels'][0, 0, 14, 14])}))")
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
    res = run_cli(["verify", "--check", str(cert), str(tmp_path / "pulled")], tmp_path, hub.read_url, check=False)
    assert res.returncode in (0, 1) and "belongs to this artifact" in res.stdout
    # verify straight from the hub reference, pinned to the commit
    res = run_cli(["verify", "--check", str(cert), f"org/tiny@{commit_sha}"], tmp_path, hub.read_url, check=False)
    assert "belongs to this artifact" in res.stdout


def test_one_commit_and_parent_commit_conflict(hub, exported, tmp_path, tiny_artifact):
    folder = export_folder(tiny_artifact, tmp_path / "ds")
    first = publish(folder, "org/conflict", token="hf_ok", endpoint=hub.write_url)
    repo = hub.mirrors / "datasets/org/conflict"
    log = subprocess.run(["git", "log", "--format=%H %s", "main"], cwd=repo, capture_output=True, text=True).stdout
    assert log.splitlines()[0].startswith(first.commit) and len(log.splitlines()) == 2  # initial + ONE publish
    files = subprocess.run(["git", "ls-tree", "-r", "--name-only", "main"], cwd=repo, capture_output=True, text=True).stdout
    assert "synthgen.safetensors" in files and "data/task_1/train-00000-of-00001.parquet" in files
    # someone else commits between our read of the head and our commit -> loud failure
    import synthgen.hub as hubmod
    from huggingface_hub import HfApi

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


def test_token_never_in_output(hub, exported, tmp_path):
    tmp, path = exported
    if not (tmp / "ds").exists():
        export_folder(__import__("synthgen").load(path), tmp / "ds")
    # a rejected token (401) and a forced server failure (500), the token in HF_TOKEN
    for token, repo, expect in ((REJECTED, "org/tiny2", "refused the credentials"), (SECRET, "org/fail-repo", "hub error")):
        res = run_cli(["publish", str(tmp / "ds"), "--repo", repo], tmp_path, hub.write_url, token=token, check=False)
        assert res.returncode == 2, res.stdout + res.stderr
        assert expect in res.stdout + res.stderr
        assert SECRET not in res.stdout + res.stderr  # (a prefix of REJECTED too)
        assert "Traceback" not in res.stderr
    # passing it with --token instead: same
    res = run_cli(["publish", str(tmp / "ds"), "--repo", "org/tiny3", "--token", REJECTED], tmp_path, hub.write_url,
                  token=None, check=False)
    assert res.returncode == 2 and SECRET not in res.stdout + res.stderr


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
        info = SimpleNamespace(sha="a" * 40, siblings=[SimpleNamespace(rfilename="synthgen.json"),
                                                          SimpleNamespace(rfilename=bad)])
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
    commit(hub.mirrors / "datasets/org/tampered", "main", {"synthgen.json": json.dumps(meta).encode()}, [],
           "tamper", None)
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
    # a real pickle whose loading would create the marker file (os.system on a touch command)
    evil = pickle.dumps(type("Evil", (), {"__reduce__": lambda self: (os.system, (f"touch {marker}",))})())
    commit(hub.mirrors / "datasets/org/with-pickles", "main",
           {"pytorch_model.bin": evil, "model.pt": evil, "data/task_0/evil.pkl": evil}, [], "add pickles", None)
    got = pull("org/with-pickles", endpoint=hub.read_url, to=tmp_path / "pulled")
    files = {p.relative_to(got.folder).as_posix() for p in got.folder.rglob("*") if p.is_file() and ".cache" not in p.parts}
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
    from synthgen.artifact import ArtifactError, load_artifact

    with pytest.raises(ArtifactError):  # verify/load would refuse the corrupted copy
        load_artifact(first.folder / "synthgen.safetensors")
    again = pull("org/cached", endpoint=hub.read_url, cache_dir=cache)  # detected by sha256, refetched once
    assert again.artifact.sha256 == tiny_artifact.sha256
    assert load_artifact(again.folder / "synthgen.safetensors").sha256 == tiny_artifact.sha256


def test_row15_secret_absent_everywhere(hub, tmp_path, tiny_artifact, monkeypatch):
    from typer.testing import CliRunner

    from synthgen.cli.main import app
    from synthgen.hub import _hub_error

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


def test_row16_hub_content_changed_after_certification(hub, tmp_path, tiny_artifact):
    import copy

    from synthgen.artifact import Artifact
    from synthgen.certificate import make_certificate
    from synthgen.config import VerifyConfig

    cert = make_certificate(tiny_artifact, VerifyConfig(), {"mlp": "generation"}, {}, True, [])
    folder = export_folder(tiny_artifact, tmp_path / "v1", certificate=cert)
    v1 = publish(folder, "org/changing", token="hf_ok", endpoint=hub.write_url)
    (tmp_path / "cert.json").write_text(json.dumps(cert))
    other = Artifact(tiny_artifact.images + 0.01, tiny_artifact.labels, tiny_artifact.task_ids,
                     copy.deepcopy(tiny_artifact.metadata), tiny_artifact.soft_labels)
    publish(export_folder(other, tmp_path / "v2"), "org/changing", token="hf_ok", endpoint=hub.write_url)
    res = run_cli(["verify", "--check", str(tmp_path / "cert.json"), "org/changing"], tmp_path, hub.read_url,
                  token=None, check=False)
    assert res.returncode == 1
    text = res.stdout + res.stderr
    assert tiny_artifact.sha256 in text and other.sha256 in text
    ok = run_cli(["verify", "--check", str(tmp_path / "cert.json"), f"org/changing@{v1.commit}"], tmp_path,
                 hub.read_url, token=None, check=False)
    assert ok.returncode == 0 and "belongs to this artifact" in ok.stdout
