"""``synthgen verify``: retrain fresh learners in sequence, next to same-memory real peers, and certify.

Exit codes: 0 certified (or --check passed), 1 not certified (or --check failed), 2 bad input, 3 a process failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synthgen.api import check, learners_for, verify_config, write_verification
from synthgen.api import verify as run_verify
from synthgen.core import distributed as dist
from synthgen.format.certificate import Certificate, CertificateMismatch, MethodResult
from synthgen.share.resolve import resolve
from synthgen.verification.config import VerifyConfig
from synthgen.verification.lineup import source_for
from synthgen.verification.methods import JOINT, SYNTHETIC, judged_peers, method_order, random_real

from ._common import (
    LogLines,
    console,
    default_processes,
    launch_torchrun,
    print_error,
    result_code,
    set_threads,
    user_errors,
)
from .config_options import with_config_options

METHODS, VERDICT, OUTPUT, SOURCES, RUNNING = "Methods", "Verdict thresholds", "Output", "Data and hub", "Running"
app = typer.Typer()
VERIFY_TIMEOUT_S = 6 * 3600.0  # a rank waits at the final gather while the others finish their last (long) jobs


def chosen(s: MethodResult) -> str:
    """A tuned method's lr and second setting as chosen on the validation split ("-" for none)."""
    extra = f", {s.epochs} ep" if s.epochs else f", strength {s.strength:g}" if s.strength else ""
    extra += f", shifts <= {s.shift} px" if s.shift else ""
    return "-" if s.lr is None else f"lr {s.lr:g}{extra}"


def results_table(cert: Certificate) -> Table:
    """Synthetic data vs its peers and references, per architecture."""
    t = Table(
        title=f"verification ({cert.scenario}, {len(cert.seeds)} seeds, "
        f"real test data; peers: {cert.images} real images)"
    )
    words = max(len(w) for r in cert.learners.values() for name in r.methods for w in name.split())
    for col in ("arch", "method", "final ACC", "max forg.", "> joint", "avg incr.", "min seen", "/ joint", "chosen"):
        t.add_column(
            col,
            justify="left" if col in ("arch", "method") else "right",
            overflow="fold" if col == "method" else "ellipsis",
            min_width=words if col == "method" else None,
        )  # a narrow log folds "Replay-500 (1 seed)" between words, never "Repla…" or "Herding-10 / 0"
    for arch, r in cert.learners.items():
        joint = r.methods.get(JOINT.name)
        label = f"{arch} ({r.group}, {r.params:,} params)"
        for s in (r.methods[m.name] for m in method_order(cert.images) if m.name in r.methods):
            fewer = len(s.seeds) < len(cert.seeds)  # a reference's seeds
            t.add_row(
                label,
                f"{s.name} ({len(s.seeds)} seed{'s' * (len(s.seeds) > 1)})" if fewer else s.name,
                f"{s.acc:.3f} ± {s.acc_std:.3f}",
                *(
                    "-" if v is None else f"{v:.3f}"
                    for v in (s.max_forgetting, s.forgetting_beyond_joint, s.avg_incremental, s.min_seen)
                ),
                f"{s.acc / joint.acc:.2f}" if joint else "-",
                chosen(s),
                style="bold" if s.name == SYNTHETIC.name else None,
            )
            label = ""
        t.add_section()
    return t


# VerifyConfig fields that are options of their own name, grouped in --help
HELP = {
    "stress": "add lr x0.5/x2, steps x2, minibatch scenarios",
    "peers": "run the peers: N real images (random, herding) by the recipe, GDumb-N, Replay-N, Replay-5N",
    "replay": "run Replay-N and Replay-5N (references; the costliest cells on a full-size source)",
    "memory_free": "run Naive, EWC, SI, LwF on the real tasks (default: for data made without rehearsal)",
    "peer_margin": "verdict: final ACC must beat each same-memory peer by this",
    "max_forgetting": "verdict: bound on each task's forgetting beyond the joint bound's",
    "min_joint_fraction": "verdict: final ACC >= this x joint training",
}
PANELS = {f: METHODS if f in ("stress", "peers", "replay", "memory_free") else VERDICT for f in HELP}


@app.command()
@with_config_options(VerifyConfig, HELP, panels=PANELS)
def verify(
    artifact: Annotated[
        str, typer.Argument(help="artifact .safetensors file, export folder, or hub repo org/name[@rev]")
    ],
    check_cert: Annotated[
        Optional[Path], typer.Option("--check", help="only re-check that this certificate belongs to ARTIFACT")
    ] = None,
    config: Annotated[Optional[Path], typer.Option(help="JSON VerifyConfig; flags given beside it win")] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="2 seeds, peers at one lr and budget, no memory-free strategies: for iteration, not to publish",
        ),
    ] = False,
    seeds: Annotated[Optional[int], typer.Option(help="fresh learners per architecture (default 3)")] = None,
    archs: Annotated[Optional[str], typer.Option(help="generation archs to test (default: the artifact's)")] = None,
    heldout: Annotated[
        Optional[str], typer.Option(help="held-out zoo archs (default: 3 families not used in generation)")
    ] = None,
    model: Annotated[
        Optional[list[str]],
        typer.Option(
            "--model", help="your own network, 'pkg.module:callable' taking (in_shape, num_classes); repeatable"
        ),
    ] = None,
    out_dir: Annotated[
        Optional[Path], typer.Option(rich_help_panel=OUTPUT, help="where PNGs go (default: <artifact>.verify/)")
    ] = None,
    cert_out: Annotated[
        Optional[Path],
        typer.Option("--certificate", rich_help_panel=OUTPUT, help="certificate path (default: beside the artifact)"),
    ] = None,
    embed: Annotated[
        bool,
        typer.Option("--embed", rich_help_panel=OUTPUT, help="also embed the certificate in the artifact's metadata"),
    ] = False,
    data_dir: Annotated[
        Optional[str],
        typer.Option(
            rich_help_panel=SOURCES,
            help="folder with the source's files (mnist / fashion-mnist idx files) or its download folder",
        ),
    ] = None,
    endpoint: Annotated[
        Optional[str], typer.Option(rich_help_panel=SOURCES, help="hub URL for org/name refs (default: HF_ENDPOINT)")
    ] = None,
    token: Annotated[
        Optional[str], typer.Option(rich_help_panel=SOURCES, help="hub token for private repos; never printed")
    ] = None,
    threads: Annotated[
        Optional[int],
        typer.Option(rich_help_panel=RUNNING, help="torch CPU threads (default: all cores; 1 on a busy machine)"),
    ] = None,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            rich_help_panel=RUNNING,
            help="reuse the peers, joint bound and memory-free runs already "
            "computed for this source (they do not depend on the images)",
        ),
    ] = True,
    cache_dir: Annotated[
        Optional[Path],
        typer.Option(
            rich_help_panel=RUNNING, help="cache folder (default: $SYNTHGEN_CACHE_DIR or ~/.cache/synthgen/verify)"
        ),
    ] = None,
    nproc: Annotated[
        Optional[int],
        typer.Option(
            envvar="SYNTHGEN_NPROC",
            rich_help_panel=RUNNING,
            help="processes on this machine, 1 thread each (launches torchrun; the grid is spread over them). "
            "Default: one per core, at most 8 (one process when --threads is given)",
        ),
    ] = None,
    given: dict | None = None,
) -> None:
    """Retrain fresh models in sequence on ARTIFACT, evaluate on real test data, compare with peers, certify."""
    nproc = nproc if nproc is not None else 1 if threads is not None else default_processes()
    with user_errors():
        set_threads(threads)
        if check_cert is not None:
            art = resolve(artifact, endpoint, token).artifact
            try:
                cert = check(check_cert, art)
            except CertificateMismatch as err:
                print_error(err, "check failed")
                raise typer.Exit(1) from None
            console.print(
                f"certificate {check_cert} belongs to this artifact (sha256 {art.sha256}); verdict: {cert.verdict}",
                soft_wrap=True,
            )
            raise typer.Exit(result_code(0 if cert.certified else 1))
        flags = {
            "seeds": None if seeds is None else tuple(range(seeds)),
            "archs": _csv(archs),
            "heldout": _csv(heldout),
            "models": tuple(model) if model else None,
        }
        cfg = verify_config(config, {**(given or {}), **{k: v for k, v in flags.items() if v is not None}}, quick=quick)
        res = resolve(artifact, endpoint, token)
        learners_for(res.artifact, cfg)  # a bad --model or arch is one line before any progress bar
        if nproc > 1 and not dist.wanted():  # every input checked here: a bad one is one line, not one per process
            source_for(res.artifact, data_dir)
            raise typer.Exit(launch_torchrun(nproc))
        if dist.wanted():
            dist.init_from_env("cpu", timeout_s=VERIFY_TIMEOUT_S)
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not dist.is_main() or not console.is_terminal,
        ) as bar:
            job_id = bar.add_task("verify", total=None, info="")
            log = LogLines("verify")

            def on_job(done: int, total: int, job) -> None:
                info = f"{job.arch} · {job.method.name} · seed {job.seed}"
                bar.update(job_id, total=total, completed=done, info=info)
                if dist.is_main():
                    log.update(done, total, f"last cell {info}", " cells")

            cert = run_verify(
                res.artifact,
                cfg,
                data_dir=data_dir,
                on_job=on_job,
                cache=cache and (cache_dir if cache_dir is not None else True),
            )
        if not dist.is_main():
            dist.shutdown()
            return
        base = Path(artifact) if res.kind == "file" else Path.cwd() / f"{res.label}.safetensors"
        cpath, pictures = write_verification(
            cert, base, res.artifact if res.kind == "file" and embed else None, cert_out, out_dir
        )
        dist.shutdown()
    console.print(results_table(cert))
    colour = "green" if cert.certified else "red"
    ran = {name for r in cert.learners.values() for name in r.methods}
    peer_names = ", ".join(p.name for p in judged_peers(cert.images) if p.name in ran)
    console.print(
        f"[bold {colour}]{cert.verdict.upper()}[/] (artifact sha256 {cert.artifact_sha256[:16]}...; "
        f"relative to {peer_names}, forgetting and joint training)"
    )
    for reason in cert.reasons:
        console.print(f"  - {reason}", highlight=False, soft_wrap=True)
    random = random_real(cert.images).name
    gains = [f"{a} {r.methods[SYNTHETIC.name].lead[random].mean:+.3f}" for a, r in cert.learners.items()
             if random in r.methods[SYNTHETIC.name].lead]  # fmt: skip
    if gains:
        console.print(f"improvement over {random} (real images, the same recipe): {', '.join(gains)}", soft_wrap=True)
    if cert.references:
        console.print("references (not judged):")
    for line in cert.references:
        console.print(f"  - {line}", highlight=False, soft_wrap=True)
    reused = cert.raw["protocol"]["spread"].get("cache", {}).get("reused_cells")
    if reused:
        console.print(
            f"reused {reused} cells (peers, joint bound, memory-free) from the cache; --no-cache recomputes them"
        )
    console.print(f"certificate: {cpath}")
    for p in pictures:
        console.print(f"picture:     {p}")
    raise typer.Exit(result_code(0 if cert.certified else 1))


def _csv(text: Optional[str]) -> Optional[tuple[str, ...]]:
    return None if text is None else tuple(a.strip() for a in text.split(",") if a.strip())
