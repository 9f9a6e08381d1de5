"""The Python API does everything the CLI does (but print): the same bytes from the same config."""

import json

import torch

import synthgen
from synthgen.format.artifact import load_artifact, siblings
from synthgen.generation.config import GenerateConfig

from .conftest import ONE, TWO_TASK_RUN

TINY = {**TWO_TASK_RUN, "ipc": 2, "inits_per_step": 2, "checkpoint_every": 2}


def test_api_and_cli_give_bit_identical_artifacts(tmp_path):
    from typer.testing import CliRunner

    from synthgen.cli.main import app

    (tmp_path / "c.json").write_text(json.dumps(TINY))
    cli = CliRunner().invoke(
        app, ["generate", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "cli.safetensors")]
    )
    assert cli.exit_code == 0, cli.output
    art = synthgen.generate(GenerateConfig.from_dict(TINY), out=tmp_path / "api.safetensors")
    from_cli = load_artifact(tmp_path / "cli.safetensors")
    assert art.sha256 == from_cli.sha256 and art.recipe == from_cli.recipe
    # the library did the CLI's chores too: the preview beside the file, no checkpoint left behind
    assert siblings(tmp_path / "api.safetensors").preview.read_bytes()[:4] == b"\x89PNG"
    assert not siblings(tmp_path / "api.safetensors").checkpoint.exists()


def test_write_verification_and_check(small_artifact, tmp_path):
    path = synthgen.save(small_artifact, tmp_path / "s.safetensors")
    cfg = synthgen.VerifyConfig(
        seeds=(0,),
        heldout=(),
        memory_free=False,
        joint_epochs=1,
        **ONE,
    )
    cert = synthgen.verify(path, cfg)
    assert isinstance(cert, synthgen.Certificate) and cert.certified == (cert.verdict == "certified")
    cpath, pictures = synthgen.write_verification(cert, path, embed_into=load_artifact(path))
    assert cpath == siblings(path).certificate and all(p.parent == siblings(path).pictures for p in pictures)
    assert synthgen.check(cpath, load_artifact(path)).verdict == cert.verdict
    assert load_artifact(path).metadata["certificate"]["certificate_sha256"] == cert.raw["certificate_sha256"]


def test_a_prefill_beside_generation_leaves_the_data_as_it_is_and_ends_with_it(tmp_path, monkeypatch):
    import synthgen.api
    from synthgen.verification.config import VerifyConfig
    from synthgen.verification.prefill import Prefill

    started = []

    class Recorded(Prefill):
        def __init__(self, art, *args):
            started.append((self, art.images.clone()))
            super().__init__(art, *args)

    monkeypatch.setattr(synthgen.api, "Prefill", Recorded)
    cfg = GenerateConfig.from_dict(TINY)
    plain = synthgen.generate(cfg, out=tmp_path / "plain.safetensors")
    assert not started
    art = synthgen.generate(cfg, out=tmp_path / "beside.safetensors", prefill=VerifyConfig(seeds=(0,)))
    assert art.sha256 == plain.sha256  # at one thread either way: the same data, bit for bit
    ((worker, images),) = started
    assert worker.process.returncode is not None  # stopped when generation ended
    assert images.shape == art.images.shape and not torch.equal(images, art.images)  # the data as it started


def test_generation_takes_the_prefills_core_back_once_the_prefill_has_finished(tmp_path, monkeypatch):
    """On two threads, generation runs on one while the prefill computes, and on both once the prefill has ended."""
    import synthgen.api
    from synthgen.verification.config import VerifyConfig

    class Process:  # a prefill process that ends after `polls` polls
        def __init__(self, polls: int):
            self.polls, self.returncode = polls, None

        def poll(self):
            self.polls -= 1
            if self.polls < 0:
                self.returncode = 0
            return self.returncode

    for polls, expected in ((0, [2, 2, 2, 2]), (2, [1, 1, 2, 2]), (99, [1, 1, 1, 1])):

        class Fake:
            def __init__(self, *_):
                self.process = Process(polls)

            running = synthgen.api.Prefill.running
            stop = lambda self: None  # noqa: E731

        monkeypatch.setattr(synthgen.api, "Prefill", Fake)
        seen = []
        before = torch.get_num_threads()
        torch.set_num_threads(2)
        try:
            cfg = GenerateConfig.from_dict({**TINY, "steps": 4, "eval_every": 0})
            synthgen.generate(
                cfg,
                out=tmp_path / "d.safetensors",
                on_step=lambda _: seen.append(torch.get_num_threads()),
                prefill=VerifyConfig(seeds=(0,)),
            )
            assert torch.get_num_threads() == 2  # restored when generation ends
        finally:
            torch.set_num_threads(before)
        assert seen == expected, polls
