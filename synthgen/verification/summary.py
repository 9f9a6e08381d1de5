"""Per learner and method: the mean and spread over seeds of every metric, and the data's paired lead over each peer."""

from __future__ import annotations

import statistics

from synthgen.verification.methods import JOINT, SYNTHETIC, Job, Method, setting_fields
from synthgen.verification.metrics import (
    average_accuracy,
    average_incremental_accuracy,
    backward_transfer,
    forgetting,
    forgetting_beyond,
    max_forgetting,
    mean_std,
    min_seen_accuracy,
    paired_difference,
    seen_accuracy,
    step_ratios,
)


def summarise(cells: list[dict]) -> dict:
    """Mean/std over seeds of a method's metrics, plus the raw matrices."""
    if "acc" in cells[0]:
        m, s = mean_std([c["acc"] for c in cells])
        out = {
            "acc_mean": m,
            "acc_std": s,
            "acc": [c["acc"] for c in cells],
            "per_task_final": [statistics.mean(v) for v in zip(*(c["per_task"] for c in cells))],
        }
        if "rows" in cells[0]:  # the joint bound: a fresh learner per prefix, so its forgetting is confusion alone
            rows = [c["rows"] for c in cells]
            out["seen_curve"] = [statistics.mean(v) for v in zip(*(seen_accuracy(R) for R in rows))]
            out["max_forgetting_mean"], out["max_forgetting_std"] = mean_std([max_forgetting(R) for R in rows])
            out["forgetting"] = [statistics.mean(v) for v in zip(*(forgetting(R) for R in rows))]
        return out
    Rs, Rts = [c["R"] for c in cells], [c["R_task"] for c in cells]
    out = {}
    for key, fn, matrices in (
        ("acc", average_accuracy, Rs),
        ("bwt", backward_transfer, Rs),
        ("max_forgetting", max_forgetting, Rs),
        ("avg_incremental_acc", average_incremental_accuracy, Rs),
        ("min_seen_acc", min_seen_accuracy, Rs),
        ("task_incremental_acc", average_accuracy, Rts),
    ):
        out[f"{key}_mean"], out[f"{key}_std"] = mean_std([fn(R) for R in matrices])
    T = len(Rs[0])
    out["per_task_final"] = [statistics.mean(R[T - 1][j] for R in Rs) for j in range(T)]
    out["seen_curve"] = [statistics.mean(v) for v in zip(*(seen_accuracy(R) for R in Rs))]
    out["mean_matrix"] = [[statistics.mean(R[i][j] for R in Rs) for j in range(i + 1)] for i in range(T)]
    out["matrices"], out["task_matrices"] = Rs, Rts
    return out


def lead(data: dict, peer: dict) -> dict:
    """The data's final-ACC lead over a peer, paired by seed (the same initial weights): mean, standard error, seeds."""
    finals = peer["acc"] if "matrices" not in peer else [average_accuracy(R) for R in peer["matrices"]]
    peer_final = dict(zip(peer["seeds"], finals))
    pairs = [(seed, average_accuracy(R)) for seed, R in zip(data["seeds"], data["matrices"]) if seed in peer_final]
    mean, se = paired_difference([acc for _, acc in pairs], [peer_final[seed] for seed, _ in pairs])
    return {"mean": mean, "se": se, "seeds": [seed for seed, _ in pairs]}


def gather(jobs: list[Job], cells: list[dict], info: dict[str, dict], peers: tuple[Method, ...]) -> dict:
    """Group cells by arch and method, summarise each, add each curve's ratio to the joint bound, its forgetting
    beyond the joint bound's and the synthetic data's paired lead over each of ``peers``."""
    results: dict[str, dict] = {a: {**d, "methods": {}} for a, d in info.items()}
    by_key: dict[tuple[str, str], list[tuple[Job, dict]]] = {}
    for job, cell in zip(jobs, cells):
        by_key.setdefault((job.arch, job.method.name), []).append((job, cell))
    for (arch, method), pairs in by_key.items():
        s = summarise([c for _, c in pairs])
        s["seeds"] = [job.seed for job, _ in pairs]
        if pairs[0][0].lr is not None:
            s["lr"] = pairs[0][0].lr
        s.update(setting_fields(pairs[0][0].method, pairs[0][0].setting))  # epochs (and shift) or strength
        results[arch]["methods"][method] = s
    for r in results.values():
        joint = r["methods"].get(JOINT.name, {})
        for s in r["methods"].values():
            if joint and "mean_matrix" in s:
                s["joint_step_ratio"] = step_ratios(s["seen_curve"], joint["seen_curve"])
                beyond = [forgetting_beyond(R, joint["forgetting"]) for R in s["matrices"]]
                s["forgetting_beyond_joint_mean"], s["forgetting_beyond_joint_std"] = mean_std(beyond)
        data = r["methods"].get(SYNTHETIC.name)
        if data is not None:
            data["lead"] = {p.name: lead(data, r["methods"][p.name]) for p in peers if p.name in r["methods"]}
    return results
