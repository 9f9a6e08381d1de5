"""The relative verdict and the certificate that carries it.

On every learner the data must beat each judged peer by a margin, keep its forgetting within a bound and reach
a fraction of the joint bound. The forgetting counted is what it forgets beyond the joint bound's forgetting of
the same task: the confusion that new classes bring, which a learner trained on all the data seen so far shows
too, is not the data's. Every check is one reason line naming the figure, the peer or bound and the margin.
:func:`make_certificate` binds the verdict to the artifact's hash.
"""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import dataclass

import torch

from synthgen.core import distributed as dist
from synthgen.core.version import versions
from synthgen.format.artifact import Artifact
from synthgen.format.certificate import CERTIFICATE_VERSION, CERTIFIED, NOT_CERTIFIED, Certificate, digest
from synthgen.verification.config import VerifyConfig
from synthgen.verification.memory_free import BATCH as MF_BATCH
from synthgen.verification.memory_free import EPOCHS as MF_EPOCHS
from synthgen.verification.memory_free import LR as MF_LR
from synthgen.verification.memory_free import STRENGTHS
from synthgen.verification.methods import (
    JOINT,
    MEMORY_FREE,
    STRESS,
    SYNTHETIC,
    Kind,
    about,
    alternatives,
    judged_peers,
    peer_methods,
    seeds_for,
)
from synthgen.verification.peers import PeerRecipe


@dataclass(frozen=True)
class Verdict:
    """Certified or not, one reason line per check, and where the data stands against the references."""

    certified: bool
    reasons: list[str]
    references: list[str]


def judge(results: dict, cfg: VerifyConfig, n: int) -> Verdict:
    """The relative verdict: one reason line per check (figure, peer or bound, margin); the references (Replay,
    which learns from the whole real stream) get a line each that the verdict does not read."""
    ok, reasons, references = True, [], []
    peers = judged_peers(n)
    for arch, r in results.items():
        s, where = r["methods"][SYNTHETIC.name], f"{arch} ({r['group']})"

        def check(good: bool, text: str) -> None:
            nonlocal ok
            ok &= good
            reasons.append(f"{where}: {text.replace('{verdict}', 'meets' if good else 'FAILS')}")

        acc = s["acc_mean"]
        for method in peers:
            peer, p = method.name, r["methods"].get(method.name)
            if p is None and method.kind is not Kind.MEMORY_FREE:  # those run only for data made without rehearsal
                check(False, f"final ACC {acc:.3f} {{verdict}}: peer {peer} was not run")
            if p is None:
                continue
            gap, paired = acc - p["acc_mean"], s["lead"][peer]
            check(
                gap >= cfg.peer_margin,
                f"final ACC {acc:.3f} vs {peer} {p['acc_mean']:.3f}: {gap:+.3f} (s.e. "
                f"{paired['se']:.3f}, {len(paired['seeds'])} paired seeds) "
                f"{{verdict}} margin >= {cfg.peer_margin:+.3f}",
            )
        for ref in (m for m in alternatives(n) if not m.judged and m.name in r["methods"]):
            gap = acc - r["methods"][ref.name]["acc_mean"]
            references.append(
                f"{where}: final ACC {acc:.3f} vs {ref.name} {r['methods'][ref.name]['acc_mean']:.3f}: {gap:+.3f} "
                f"({about(ref)})"
            )
        forg, joint = s["max_forgetting_mean"], r["methods"].get(JOINT.name)
        if joint is None:
            check(forg <= cfg.max_forgetting, f"max forgetting {forg:.3f} {{verdict}} <= {cfg.max_forgetting:.2f}")
            check(False, f"final ACC {acc:.3f} {{verdict}}: joint bound was not run")
        else:
            beyond = s["forgetting_beyond_joint_mean"]
            check(
                beyond <= cfg.max_forgetting,
                f"max forgetting {forg:.3f}, {beyond:+.3f} beyond the joint bound's of the same task "
                f"{{verdict}} <= {cfg.max_forgetting:.2f}",
            )
            frac = acc / joint["acc_mean"]
            check(
                frac >= cfg.min_joint_fraction,
                f"final ACC {acc:.3f} = {frac:.2f} x joint {joint['acc_mean']:.3f} "
                f"{{verdict}} >= {cfg.min_joint_fraction:.2f} x joint",
            )
    return Verdict(ok, reasons, references)


def make_certificate(
    art: Artifact,
    cfg: VerifyConfig,
    results: dict,
    tuning: dict,
    verdict: Verdict,
    device: str = "cpu",
    wall_time_s: float | None = None,
    spread: dict | None = None,
) -> Certificate:
    """Assemble the certificate dict (with its own digest)."""
    meta = art.metadata
    n = len(art.labels)
    cert = {
        "certificate_version": CERTIFICATE_VERSION,
        "artifact_sha256": art.sha256,
        "source": {
            "name": meta["source"]["name"],
            "split": meta["source"].get("split"),
            "tasks": meta["tasks"],
            "scenario": meta["scenario"],
        },
        "protocol": {
            "seeds": list(cfg.seeds),
            "reference_seeds": list(seeds_for(MEMORY_FREE[0], cfg)),  # Replay's and the memory-free strategies'
            "archs": {a: r["group"] for a, r in results.items()},
            "learners": {a: {k: v for k, v in r.items() if k != "methods"} for a, r in results.items()},
            "recipe": meta["recipe"],
            "images": n,
            "scenarios": ["recipe"] + ([m.name for m in STRESS] if cfg.stress else []),
            "peers": {
                "methods": [p.name for p in peer_methods(n)] if cfg.peers else [],
                "judged": [p.name for p in judged_peers(n)],
                "real_in_place": "the artifact's images replaced by real training images of the same classes "
                "(chosen at random per seed, or by herding in pixel space), one-hot labels, trained by the "
                "artifact's own recipe",
                "optimizer": "adam",
                "lr_grid": list(cfg.peer_lrs),
                "replay_epochs": list(cfg.replay_epochs),
                "replay_5n_epochs": list(cfg.replay_5n_epochs),
                "reference_images": cfg.reference_images,
                "gdumb_epochs": list(cfg.gdumb_epochs),
                "gdumb_shifted_epochs": list(cfg.gdumb_shifted_epochs),
                "gdumb_shift": cfg.gdumb_shift,
                "choice": "per learner, the lr (at the first epochs) then the epochs (at that lr; GDumb: also with "
                "each image shifted by up to gdumb_shift pixels) with the best final ACC on the validation split, "
                "first seed; Replay-5N at Replay-N's lr, its own epochs",
                "batch": PeerRecipe().batch,
                "tuning": tuning,
            },
            "joint": {
                "optimizer": "adam",
                "lr_grid": list(cfg.peer_lrs),
                "epochs": cfg.joint_epochs,
                "seeds": list(seeds_for(JOINT, cfg)),
                "bound": "a fresh learner trained on all real training data of tasks 0..i, for each step i",
            },
            "made_for": "rehearsal" if art.recipe.get("rehearsal", False) else "no rehearsal",
            "memory_free": {
                "strategies": sorted({m.name for r in results.values() for m in MEMORY_FREE if m.name in r["methods"]}),
                "definition": "Avalanche's Naive, EWC (separate), SI, LwF (T=2) on the real tasks in sequence, no data "
                f"kept; Adam, batch {MF_BATCH}, {MF_EPOCHS} epochs per task; lr then strength chosen on the "
                f"validation split like the peers' (Naive: lr {MF_LR:g})",
                "strengths": {m.name: list(STRENGTHS[m.strategy]) for m in MEMORY_FREE if m.regularised},
            },
            "stress": cfg.stress,
            "spread": spread or {"processes": dist.world()},
            "evaluation": "fresh learner per (arch, seed) trained in sequence per the recipe; accuracy in "
            "eval() mode on the REAL test split of every task after every task",
        },
        "thresholds": {
            "peer_margin": cfg.peer_margin,
            "max_forgetting": cfg.max_forgetting,
            "forgetting": "each task's forgetting minus the joint bound's forgetting of that task (mean over its "
            "seeds) where positive (a fresh learner per prefix: the confusion that new classes bring); the largest "
            "over the tasks, mean over the seeds",
            "min_joint_fraction": cfg.min_joint_fraction,
            "applies_to": "every architecture, every group",
        },
        "results": results,
        "environment": {
            **versions(),
            "platform": platform.platform(),
            "device": device,
            "cuda": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
            "threads": torch.get_num_threads(),
            "wall_time_s": wall_time_s,
        },
        "verdict": CERTIFIED if verdict.certified else NOT_CERTIFIED,
        "reasons": verdict.reasons,
        "references": verdict.references,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    cert["certificate_sha256"] = digest(cert)
    return Certificate.from_dict(cert)
