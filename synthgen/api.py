"""The Python API: everything the CLI does, without the printing.

``generate(config, out=...) -> Artifact``, ``load(ref) -> Artifact``, ``verify(artifact) -> Certificate``,
``write_verification(cert, path)``, ``check(certificate, artifact)``; export / publish / pull are
re-exported from synthgen.share.export and synthgen.share.hub.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from synthgen.core import distributed as dist
from synthgen.core.config import ConfigError
from synthgen.core.errors import SynthgenError
from synthgen.core.io import exclusive, read_json
from synthgen.core.seeding import seed_everything
from synthgen.format.artifact import Artifact, load_artifact, save_artifact, siblings
from synthgen.format.certificate import Certificate, check_certificate, load_certificate, write_certificate
from synthgen.generation.config import GenerateConfig
from synthgen.generation.engine import Engine
from synthgen.generation.result import GenerationError, StepInfo, artifact_from_result
from synthgen.share.resolve import resolve_artifact
from synthgen.verification.cache import CellCache
from synthgen.verification.config import VerifyConfig
from synthgen.verification.grid import run_grid
from synthgen.verification.lineup import arch_groups, describe, sized_for, source_for
from synthgen.verification.methods import Job, alternatives
from synthgen.verification.prefill import Prefill
from synthgen.verification.summary import gather
from synthgen.verification.verdict import judge, make_certificate

QUICK = {
    "seeds": (0, 1),
    "peer_lrs": (1e-3,),
    "replay_epochs": (5,),
    "replay_5n_epochs": (5,),
    "gdumb_epochs": (30,),
    "gdumb_shifted_epochs": (),
    "memory_free": False,
}  # `verify --quick`: for iteration only


def read_config(path: str | os.PathLike | None, cls: type, overrides: dict | None = None):
    """``cls`` from a JSON file (or its defaults when ``path`` is None) with ``overrides`` on top (they win)."""
    base = cls() if path is None else cls.from_dict(read_json(path, ConfigError, f"{path}: no such config file"))
    return base.merged(overrides) if overrides else base


def verify_config(
    path: str | os.PathLike | None = None, overrides: dict | None = None, quick: bool = False
) -> VerifyConfig:
    """The VerifyConfig of a JSON file, the ``--quick`` preset, then explicit ``overrides``, in that order."""
    return read_config(path, VerifyConfig, {**(QUICK if quick else {}), **(overrides or {})})


VERDICT_FILE = "SYNTHGEN_VERDICT_FILE"  # set by launch: where rank 0 leaves an exit code that is a result


CRASHED = 3  # the exit code of a multi-process run in which a process failed (torchrun printed which and why)


def launch(nproc: int, args: list[str]) -> int:
    """Run ``python -m synthgen ARGS`` under torchrun on this machine with ``nproc`` processes (1 torch thread
    each); its exit code. An exit code that is a result (verify's 1: not certified) comes back through a file:
    torchrun reports any other than 0 as a crash of its workers, which is :data:`CRASHED` here (never a result)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "synthgen"]
    with tempfile.TemporaryDirectory() as folder:
        verdict = Path(folder) / "exit"
        rc = subprocess.call([*cmd, *args], env={"OMP_NUM_THREADS": "1", **os.environ, VERDICT_FILE: str(verdict)})
        if rc != 0:
            print(f"error: a process of the {nproc}-process run failed (torchrun exit {rc}; its report is above)",
                  file=sys.stderr)  # fmt: skip
            return CRASHED
        return int(verdict.read_text()) if verdict.exists() else 0


@contextlib.contextmanager
def _maybe_lock(out: Path | None) -> Iterator[None]:
    if out is None:
        yield
    else:
        with exclusive(out):  # a second generate to the same output fails at once, clearly
            yield


def generate(
    config: GenerateConfig | None = None,
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    on_step: Callable[[StepInfo], None] | None = None,
    nproc: int = 1,
    preview: bool = True,
    prefill: VerifyConfig | None = None,
) -> Artifact:
    """Learn synthetic task data for ``config`` (defaults: Split-MNIST on mnist-5k).

    Seeds every RNG and determinism knob from ``config.seed``. With ``out``: one writer at a time
    (a lock beside it), a checkpoint every ``checkpoint_every`` steps next to it (``resume``
    continues it), the artifact written atomically, a PNG preview beside it, the checkpoint
    removed when done. ``nproc > 1`` relaunches this under torchrun (needs ``out``); under
    torchrun every rank learns the same data and rank 0 alone writes. With ``prefill`` (one process only), another
    process computes the cells of that verification which do not depend on the data into the default verify cache
    while generating, on a core of its own (synthgen.verification.prefill): a ``verify`` right after reuses them.
    """
    cfg = config or GenerateConfig()
    if nproc > 1 and not dist.wanted():
        if out is None:
            raise ConfigError("generate with nproc > 1 needs an output path (out=...)")
        with tempfile.TemporaryDirectory() as tmp:
            cfg_file = Path(tmp) / "config.json"
            cfg_file.write_text(json.dumps(cfg.to_dict()))
            code = launch(
                nproc, ["generate", "--config", str(cfg_file), "--out", str(out), *(["--resume"] if resume else [])]
            )
        if code != 0:
            raise GenerationError(f"generate under torchrun with {nproc} processes failed (exit {code})")
        return load_artifact(out)
    seed_everything(cfg.seed)  # the engine draws from its own seeded generators; this pins torch's knobs too
    if dist.wanted():
        cfg = cfg.merged({"device": dist.init_from_env(cfg.device)})
    out_path = Path(out) if out is not None else None
    ckpt = siblings(out_path).checkpoint if out_path else None
    main = dist.is_main()
    try:
        with _maybe_lock(out_path if main else None):  # a second writer fails before the set-up, not after it
            engine = Engine(cfg, checkpoint_path=ckpt, resume=resume)
            if not main:
                return artifact_from_result(engine.run(), cfg)
            art = artifact_from_result(_run(engine, cfg, on_step, prefill), cfg)
            del engine  # frees the replay pool before the preview imports matplotlib/torchvision (peak RSS)
            if out_path is not None:
                save_artifact(art, out_path)
                if preview:
                    from synthgen.share.plots import sample_grid

                    meta = art.metadata["source"]
                    sample_grid(
                        art.images,
                        art.task_ids,
                        art.labels,
                        meta["normalisation"],
                        meta["class_names"],
                        siblings(out_path).preview,
                    )
                ckpt.unlink(missing_ok=True)
        return art
    finally:
        dist.shutdown()


def _run(engine: Engine, cfg: GenerateConfig, on_step: Callable[[StepInfo], None] | None, prefill: VerifyConfig | None):
    """``engine.run(on_step)``, beside a :class:`Prefill` of ``prefill``'s verification when asked (not under
    torchrun: its processes use every core). The prefill takes one core: generation runs on one thread fewer
    until the prefill has finished its cells, then on all of them again."""
    if prefill is None or dist.wanted():
        return engine.run(on_step)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads - 1))
    worker = Prefill(artifact_from_result(engine.result(), cfg), prefill, None, cfg.source.data_dir)

    def step(info: StepInfo) -> None:
        if torch.get_num_threads() != threads and not worker.running():
            torch.set_num_threads(threads)  # its core is free again
        if on_step:
            on_step(info)

    try:
        return engine.run(step)
    finally:
        worker.stop()
        torch.set_num_threads(threads)


def load(ref: str | os.PathLike) -> Artifact:
    """Load and validate an artifact: a .safetensors file, an export folder, or a hub repo ``org/name[@rev]``."""
    return resolve_artifact(ref)


def learners_for(art: Artifact, cfg: VerifyConfig) -> dict[str, dict]:
    """Every learner the verification of ``art`` will train, built once to check it (zoo name or the user's
    ``module:callable``) -> its group, family and parameter count. Raises UnknownLearnerError early."""
    return {a: describe(a, g, art) for a, g in arch_groups(art, cfg).items()}


def verify(
    artifact: Artifact | str | os.PathLike,
    config: VerifyConfig | None = None,
    *,
    data_dir: str | None = None,
    on_job: Callable[[int, int, Job], None] | None = None,
    cache: str | os.PathLike | bool = True,
    nproc: int = 1,
) -> Certificate:
    """Retrain fresh learners in sequence on ``artifact`` next to its peers and return its certificate.

    The cells that do not depend on the artifact's images (peers, joint bound, memory-free strategies, tuning runs)
    are kept in and reused from ``cache`` (synthgen.verification.cache): True for the default folder, a folder, or
    False to compute everything. Under torchrun the grid is spread over the processes and every rank returns
    the same certificate; ``nproc > 1`` launches that (``synthgen verify`` under torchrun, 1 thread per process;
    ``on_job`` is not called) and returns the certificate it wrote."""
    cfg = config or VerifyConfig()
    art = artifact if isinstance(artifact, Artifact) else resolve_artifact(artifact)
    info = learners_for(art, cfg)
    source = source_for(art, data_dir)  # bad input fails here, before any process starts
    cfg = sized_for(cfg, art, source)
    if nproc > 1 and not dist.wanted():
        return _verify_in_processes(art, cfg, nproc, data_dir, cache)
    t0 = time.perf_counter()
    cells_cache = None if cache is False else CellCache(None if cache is True else cache)
    jobs, cells, tuning, spread = run_grid(art, cfg, source, on_job, cells_cache)
    results = gather(jobs, cells, info, alternatives(len(art.labels)))
    verdict = judge(results, cfg, len(art.labels))
    return make_certificate(
        art, cfg, results, tuning, verdict, spread=spread, wall_time_s=round(time.perf_counter() - t0, 2)
    )


def _verify_in_processes(
    art: Artifact, cfg: VerifyConfig, nproc: int, data_dir: str | None, cache: str | os.PathLike | bool
) -> Certificate:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = art.path or save_artifact(art, folder / "artifact.safetensors")
        (folder / "verify.json").write_text(json.dumps(cfg.to_dict()))
        args = ["verify", str(path), "--config", str(folder / "verify.json"), "--out-dir", str(folder / "png")]
        args += ["--certificate", str(folder / "certificate.json")]
        args += ["--no-cache"] if cache is False else [] if cache is True else ["--cache-dir", str(cache)]
        code = launch(nproc, [*args, *(["--data-dir", data_dir] if data_dir else [])])
        if code not in (0, 1):  # 1: not certified, a result
            raise SynthgenError(f"verify under torchrun with {nproc} processes failed (exit {code})")
        return load_certificate(folder / "certificate.json")


def write_verification(
    cert: Certificate,
    path: str | os.PathLike,
    embed_into: Artifact | None = None,
    certificate: str | os.PathLike | None = None,
    pictures: str | os.PathLike | None = None,
) -> tuple[Path, list[Path]]:
    """Write the certificate beside the artifact ``path`` (or to ``certificate``) and its PNG pictures into
    ``<stem>.verify/`` (or ``pictures``); with ``embed_into`` also embed it in that artifact's file."""
    from synthgen.share.plots import verification_pictures

    sib = siblings(path)
    cpath = write_certificate(cert, certificate or sib.certificate)
    if embed_into is not None:
        embed_into.metadata["certificate"] = cert.to_dict()
        save_artifact(embed_into, embed_into.path or path)
    return cpath, verification_pictures(cert, Path(pictures or sib.pictures))


def check(certificate: str | os.PathLike, artifact: Artifact) -> Certificate:
    """The certificate file, after checking that it was issued for exactly ``artifact``'s tensors."""
    cert = load_certificate(certificate)
    check_certificate(cert, artifact)
    return cert


def export(
    source: Artifact | str | os.PathLike,
    to: str | os.PathLike,
    certificate: Certificate | str | os.PathLike | None = None,
    overwrite: bool = False,
) -> Path:
    """Artifact (object or file) -> Hugging Face dataset folder ``to``, with its certificate and verify pictures
    (by default the ones beside the file, checked against it); an export folder -> an artifact file ``to``."""
    from synthgen.format.certificate import CertificateError
    from synthgen.share.export import ExportError, artifact_from_parquet, export_folder

    if not isinstance(source, Artifact) and Path(source).is_dir():
        if Path(to).exists() and not overwrite:
            raise ExportError(f"{to} exists; pass --overwrite to replace it")
        return save_artifact(artifact_from_parquet(source), to)
    art = source if isinstance(source, Artifact) else load_artifact(source)
    sib = siblings(art.path) if art.path is not None else None
    cert = certificate if isinstance(certificate, Certificate) else None
    if cert is None:
        cert_file = Path(certificate) if certificate is not None else (sib.certificate if sib else None)
        if certificate is not None and not cert_file.exists():
            raise CertificateError(f"{certificate}: no such certificate")
        if cert_file is not None and cert_file.exists():
            cert = load_certificate(cert_file)
    if cert is not None:
        check_certificate(cert, art)
    pics = sib.pictures if sib else None
    pictures = {p.stem: p for p in sorted(pics.glob("*.png"))} if pics is not None and pics.is_dir() else {}
    return export_folder(art, to, certificate=cert, pictures=pictures, overwrite=overwrite)
