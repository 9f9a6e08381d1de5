"""``synthgen verify``: retrain fresh learners in sequence, compare with baselines, certify.

Exit codes: 0 certified (or --check passed), 1 not certified (or --check failed), 2 bad input.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synthgen.api import verify as run_verify
from synthgen.artifact import save_artifact
from synthgen.certificate import (CERTIFIED, CertificateError, certificate_path, check_certificate,
                                  load_certificate, write_certificate)
from synthgen.config import VerifyConfig
from synthgen.plots import accuracy_curves, accuracy_heatmap, per_task_bars
from synthgen.resolve import resolve
from synthgen.tasks import task_label
from synthgen.verify import JOINT, REAL_RECIPE_STEPS, SYNTHETIC

from ._common import EXIT_BAD_INPUT, console, print_error, set_threads, user_errors

app = typer.Typer()
D = VerifyConfig()


def _csv(text: Optional[str]) -> Optional[tuple[str, ...]]:
    return None if text is None else tuple(a.strip() for a in text.split(",") if a.strip())


def results_table(cert: dict) -> Table:
    """Synthetic vs baselines per architecture."""
    t = Table(title=f"verification ({cert['source']['scenario']}, {len(cert['protocol']['seeds'])} seeds, real test data)")
    for col in ("arch", "method", "final ACC", "BWT", "max forgetting", "task-incr. ACC", "/ joint"):
        t.add_column(col, justify="left" if col in ("arch", "method") else "right")
    for arch, r in cert["results"].items():
        joint = r["methods"].get(JOINT, {}).get("acc_mean")
        for method, s in r["methods"].items():
            ratio = f"{s['acc_mean'] / joint:.2f}" if joint else "-"
            if "bwt_mean" in s:
                t.add_row(f"{arch} ({r['group']})", method, f"{s['acc_mean']:.3f} ± {s['acc_std']:.3f}",
                          f"{s['bwt_mean']:+.3f}", f"{s['max_forgetting_mean']:.3f}",
                          f"{s['task_incremental_acc_mean']:.3f}", ratio,
                          style="bold" if method == SYNTHETIC else None)
            else:
                t.add_row(f"{arch} ({r['group']})", method, f"{s['acc_mean']:.3f} ± {s['acc_std']:.3f}",
                          "-", "-", "-", ratio)
        t.add_section()
    return t


def write_pictures(cert: dict, folder: Path) -> list[Path]:
    """Per architecture: a heatmap of the synthetic mean matrix, a seen-accuracy curve and, with the
    baselines, the final per-task accuracy next to the joint upper bound."""
    paths = []
    for arch, r in cert["results"].items():
        s = r["methods"][SYNTHETIC]
        paths.append(accuracy_heatmap(s["mean_matrix"], folder / f"heatmap_{arch}.png",
                                      f"synthetic data, {arch}: accuracy after task i on task j"))
        curves = {"synthetic (recipe)": s["seen_curve"]}
        if REAL_RECIPE_STEPS in r["methods"]:
            curves["real data in sequence"] = r["methods"][REAL_RECIPE_STEPS]["seen_curve"]
        paths.append(accuracy_curves(curves, folder / f"curve_{arch}.png", f"{arch}: accuracy on tasks seen so far"))
        if JOINT in r["methods"]:
            bars = {"synthetic, after all tasks": s["per_task_final"],
                    "joint training on all real data": r["methods"][JOINT]["per_task_final"]}
            names = [task_label(t) for t in cert["source"]["tasks"]]
            paths.append(per_task_bars(bars, names, folder / f"tasks_{arch}.png",
                                       f"{arch}: final accuracy per task vs the joint upper bound"))
    return paths


@app.command()
def verify(
    artifact: Annotated[str, typer.Argument(help="artifact .safetensors file, export folder, or hub repo org/name[@rev]")],
    check: Annotated[Optional[Path], typer.Option(help="only re-check that this certificate belongs to ARTIFACT")] = None,
    seeds: Annotated[int, typer.Option(help="fresh learners per architecture")] = len(D.seeds),
    archs: Annotated[Optional[str], typer.Option(help="generation archs to test (default: the artifact's)")] = None,
    heldout: Annotated[Optional[str], typer.Option(help="held-out archs (default: 2 not used in generation)")] = None,
    min_acc: Annotated[float, typer.Option(help="threshold: final ACC on generation archs")] = D.min_acc,
    max_forgetting: Annotated[float, typer.Option(help="threshold: max forgetting on generation archs")] = D.max_forgetting,
    heldout_min_acc: Annotated[Optional[float], typer.Option(help="threshold on held-out archs (default: report only)")] = None,
    heldout_max_forgetting: Annotated[Optional[float], typer.Option(help="threshold on held-out archs")] = None,
    stress: Annotated[bool, typer.Option("--stress", help="add lr x0.5/x2, steps x2, minibatch scenarios")] = False,
    baselines: Annotated[bool, typer.Option(help="run the real-data baselines")] = True,
    out_dir: Annotated[Optional[Path], typer.Option(help="where PNGs go (default: <artifact>.verify/)")] = None,
    cert_out: Annotated[Optional[Path], typer.Option("--certificate", help="certificate path (default: beside the artifact)")] = None,
    embed: Annotated[bool, typer.Option("--embed", help="also embed the certificate in the artifact's metadata")] = False,
    data_dir: Annotated[Optional[str], typer.Option(help="cache folder for online sources")] = None,
    endpoint: Annotated[Optional[str], typer.Option(help="hub URL for org/name refs (default: HF_ENDPOINT)")] = None,
    token: Annotated[Optional[str], typer.Option(help="hub token for private repos; never printed")] = None,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads (default: all cores; 1 on a busy machine)")] = None,
) -> None:
    """Retrain fresh models in sequence on ARTIFACT, evaluate on real test data, and certify it."""
    set_threads(threads)
    if check is not None:
        with user_errors():
            art = resolve(artifact, endpoint, token).artifact
            try:
                cert = load_certificate(check)
            except CertificateError as err:
                print_error(err)
                raise typer.Exit(EXIT_BAD_INPUT) from None
        try:
            check_certificate(cert, art)
        except CertificateError as err:
            print_error(err, "check failed")
            raise typer.Exit(1) from None
        console.print(f"certificate {check} belongs to this artifact (sha256 {art.sha256}); verdict: {cert['verdict']}",
                      soft_wrap=True)
        raise typer.Exit(0 if cert["verdict"] == CERTIFIED else 1)

    with user_errors():
        cfg = VerifyConfig(seeds=tuple(range(seeds)), archs=_csv(archs), heldout=_csv(heldout), min_acc=min_acc,
                           max_forgetting=max_forgetting, heldout_min_acc=heldout_min_acc,
                           heldout_max_forgetting=heldout_max_forgetting, stress=stress, baselines=baselines)
        res = resolve(artifact, endpoint, token)
        art = res.artifact
        with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn(), console=console) as bar:
            job_id = bar.add_task("verify", total=None, info="")

            def on_job(done: int, total: int, job) -> None:
                bar.update(job_id, total=total, completed=done, info=f"{job.arch} · {job.method} · seed {job.seed}")

            cert = run_verify(art, cfg, data_dir=data_dir, on_job=on_job)
        # outputs go beside a file; for a folder or a hub repo (whose cache must stay pristine) into the cwd
        base = Path(artifact) if res.kind == "file" else Path.cwd() / f"{res.label}.safetensors"
        cpath = write_certificate(cert, cert_out or certificate_path(base))
        if embed and res.kind == "file":
            art.metadata["certificate"] = cert
            save_artifact(art, art.path)
        pictures = write_pictures(cert, out_dir or base.with_name(base.name.removesuffix(".safetensors") + ".verify"))
    console.print(results_table(cert))
    colour = "green" if cert["verdict"] == CERTIFIED else "red"
    console.print(f"[bold {colour}]{cert['verdict'].upper()}[/] (artifact sha256 {cert['artifact_sha256'][:16]}...)")
    for reason in cert["reasons"]:
        console.print(f"  - {reason}", highlight=False)
    console.print(f"certificate: {cpath}")
    for p in pictures:
        console.print(f"picture:     {p}")
    raise typer.Exit(0 if cert["verdict"] == CERTIFIED else 1)
