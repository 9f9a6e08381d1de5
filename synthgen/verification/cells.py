"""Run one cell of the verifier's grid (synthgen.verification.methods): train the job's learner by its method
and score it."""

from __future__ import annotations

from synthgen.data.sources import SourceData
from synthgen.format.artifact import Artifact
from synthgen.verification.config import VerifyConfig
from synthgen.verification.methods import (
    ImageParams,
    InPlaceParams,
    Job,
    JointParams,
    Kind,
    MemoryFreeParams,
    job_params,
    twin_on_test,
)
from synthgen.verification.real_sets import in_place_of
from synthgen.verification.runs import (
    RealStream,
    SequenceRun,
    evaluate_artifact,
    joint_accuracy,
    memory_free_matrix,
    peer_matrix,
)


def joined(head: dict, last: dict) -> dict:
    """The joint bound's cell: the earlier prefixes' rows from its ``head`` cell, the last prefix from its tuning
    run's twin."""
    return last | {"rows": head["rows"] + last["rows"]}


def run_job(job: Job, art: Artifact, source: SourceData, cfg: VerifyConfig) -> dict:
    """One cell of the grid -> {'R', 'R_task'} matrices, the joint bound's final figures and rows, or GDumb's final
    figures; a tuning job with a :func:`twin_on_test` -> its final validation accuracy 'acc' and the twin's cell
    under 'test'."""
    stream, p, learner = RealStream.of(art, source), job_params(job, art, cfg), (job.arch, job.seed)
    splits = (job.split, "test") if twin_on_test(job) else (job.split,)
    if isinstance(p, ImageParams):
        run = evaluate_artifact(art, source, *learner, p.lr_scale, p.step_scale, p.batch)
    elif isinstance(p, InPlaceParams):
        run = evaluate_artifact(in_place_of(art, source, p.selection, job.seed), source, *learner)
    elif isinstance(p, JointParams):
        steps = list(p.prefixes)
        if job.split == "test" and len(art.tasks) - 1 not in steps:  # a cell's head: its tuning run trains the last
            head = joint_accuracy(stream, *learner, p.lr, p.epochs, steps=steps) if steps else {}
            return {"rows": head["test"].rows if head else []}
        joint = joint_accuracy(stream, *learner, p.lr, p.epochs, steps=steps, splits=splits)
        cells = {k: {"acc": r.acc, "per_task": r.per_task, "rows": r.rows} for k, r in joint.items()}
        return {"acc": cells["val"]["acc"], "test": cells["test"]} if job.split == "val" else cells["test"]
    else:
        if isinstance(p, MemoryFreeParams):
            runs = memory_free_matrix(p.strategy, stream, *learner, p.lr, p.strength or 0.0, splits)
        else:
            runs = peer_matrix(p.kind, stream, *learner, p.memory, p.recipe, splits)
        run = runs[job.split]
        test = final_figures(runs["test"]) if job.method.kind is Kind.GDUMB else _matrices(runs["test"])
        if job.split == "val":  # a tuning run: its final validation accuracy, and its twin's test cell
            return {"acc": run.final_acc, "test": test}
        return test
    return _matrices(run)


def _matrices(run: SequenceRun) -> dict:
    return {"R": run.R, "R_task": run.R_task}


def final_figures(run: SequenceRun) -> dict:
    """The cell of a run scored after its last task alone (GDumb): final ACC and each task's accuracy."""
    return {"acc": run.final_acc, "per_task": run.R[-1], "seen_curve": []}
