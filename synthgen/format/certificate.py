"""The certificate: a verdict bound to an artifact's tensor hash.

It records what was checked (source and split, seeds, architectures, recipe, scenarios,
thresholds), every accuracy matrix, the environment, the verdict and its reasons. It is JSON,
written atomically next to the artifact, and can be embedded in the artifact's metadata without
changing the tensor hash. ``certificate_sha256`` (over the rest of the certificate) catches
accidental edits; authenticity comes from publishing it with the artifact at a pinned commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from synthgen.core.errors import SynthgenError
from synthgen.core.io import atomic_write, read_json
from synthgen.format.artifact import Artifact

CERTIFICATE_VERSION = 3


CERTIFIED, NOT_CERTIFIED = "certified", "not certified"


REQUIRED_KEYS = (
    "certificate_version",
    "artifact_sha256",
    "source",
    "protocol",
    "thresholds",
    "results",
    "environment",
    "verdict",
    "reasons",
    "certificate_sha256",
)


class CertificateError(SynthgenError, ValueError):
    """A certificate is unreadable, malformed or edited."""


class CertificateMismatch(CertificateError):
    """A valid certificate that was issued for another artifact (a failed check, not bad input)."""


def digest(cert: dict) -> str:
    body = {k: v for k, v in cert.items() if k != "certificate_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Lead:
    """The data's final-ACC lead over a peer, paired by seed: mean, standard error, the seeds paired."""

    mean: float
    se: float
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class MethodResult:
    """One method on one learner, over its seeds (``max_forgetting`` and the curves: sequence methods only)."""

    name: str
    acc: float  # final average accuracy, mean over seeds
    acc_std: float
    seeds: tuple[int, ...]
    per_task_final: tuple[float, ...]
    seen_curve: tuple[float, ...] = ()  # accuracy on the tasks seen so far after each task
    lr: float | None = None  # the chosen Adam lr (peers, joint bound)
    epochs: int | None = None  # the chosen epochs (Replay: per task, GDumb: over the buffer)
    shift: int | None = None  # GDumb: its images shifted by up to this many pixels in training (None: not)
    strength: float | None = None  # the chosen strength of EWC, SI or LwF
    max_forgetting: float | None = None
    forgetting_beyond_joint: float | None = None  # the largest forgetting beyond the joint bound's of the same task
    avg_incremental: float | None = None
    min_seen: float | None = None
    mean_matrix: tuple[tuple[float, ...], ...] = ()
    lead: dict[str, Lead] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, name: str, d: dict) -> MethodResult:
        return cls(
            name=name,
            acc=d["acc_mean"],
            acc_std=d["acc_std"],
            seeds=tuple(d["seeds"]),
            per_task_final=tuple(d["per_task_final"]),
            seen_curve=tuple(d.get("seen_curve", ())),
            lr=d.get("lr"),
            epochs=d.get("epochs"),
            shift=d.get("shift"),
            strength=d.get("strength"),
            max_forgetting=d.get("max_forgetting_mean"),
            forgetting_beyond_joint=d.get("forgetting_beyond_joint_mean"),
            avg_incremental=d.get("avg_incremental_acc_mean"),
            min_seen=d.get("min_seen_acc_mean"),
            mean_matrix=tuple(tuple(row) for row in d.get("mean_matrix", ())),
            lead={p: Lead(v["mean"], v["se"], tuple(v["seeds"])) for p, v in d.get("lead", {}).items()},
        )


@dataclass(frozen=True)
class LearnerResult:
    """Every method run on one learner."""

    arch: str
    group: str  # generation | heldout | user
    family: str
    params: int
    methods: dict[str, MethodResult]


@dataclass(frozen=True)
class Certificate:
    """A certificate, read: the verdict, its reasons and every learner's results; ``raw`` is its JSON."""

    verdict: str
    reasons: tuple[str, ...]
    references: tuple[str, ...]  # where the data stands against what the verdict does not judge (Replay)
    artifact_sha256: str
    images: int  # the artifact's image count (the peers' memory)
    scenario: str
    tasks: tuple[tuple[int, ...], ...]
    seeds: tuple[int, ...]
    reference_seeds: tuple[int, ...]  # Replay's and the memory-free strategies'
    learners: dict[str, LearnerResult]
    raw: dict = field(repr=False, compare=False)

    @property
    def certified(self) -> bool:
        return self.verdict == CERTIFIED

    @classmethod
    def from_dict(cls, cert: object, where: str = "certificate") -> Certificate:
        """Check the structure and the self-digest, then read it; any defect is one CertificateError."""
        cert = validate_certificate(cert, where)
        try:
            protocol = cert["protocol"]
            learners = {
                a: LearnerResult(
                    a,
                    r["group"],
                    r["family"],
                    r["params"],
                    {m: MethodResult.from_dict(m, d) for m, d in r["methods"].items()},
                )
                for a, r in cert["results"].items()
            }
            return cls(
                verdict=cert["verdict"],
                reasons=tuple(cert["reasons"]),
                references=tuple(cert.get("references", ())),
                artifact_sha256=cert["artifact_sha256"],
                images=protocol["images"],
                scenario=cert["source"]["scenario"],
                tasks=tuple(tuple(t) for t in cert["source"]["tasks"]),
                seeds=tuple(protocol["seeds"]),
                reference_seeds=tuple(protocol.get("reference_seeds", protocol["seeds"])),
                learners=learners,
                raw=cert,
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise CertificateError(f"{where}: malformed certificate ({type(err).__name__}: {err})") from None

    def to_dict(self) -> dict:
        return self.raw


def write_certificate(cert: Certificate, path: str | os.PathLike) -> Path:
    """Atomic JSON write."""
    return atomic_write(path, json.dumps(cert.to_dict(), indent=1, sort_keys=True).encode())


def validate_certificate(cert: object, where: str = "certificate") -> dict:
    """Structure and self-digest checks of a certificate's JSON."""
    if not isinstance(cert, dict):
        raise CertificateError(f"{where}: not a JSON object")
    if missing := [k for k in REQUIRED_KEYS if k not in cert]:
        raise CertificateError(f"{where}: missing {missing}")
    if cert["certificate_version"] != CERTIFICATE_VERSION:
        raise CertificateError(
            f"{where}: certificate_version {cert['certificate_version']!r} is not "
            f"{CERTIFICATE_VERSION}; re-run `synthgen verify` to issue a current one"
        )
    if cert["verdict"] not in (CERTIFIED, NOT_CERTIFIED):
        raise CertificateError(f"{where}: unknown verdict {cert['verdict']!r}")
    if digest(cert) != cert["certificate_sha256"]:
        raise CertificateError(f"{where}: certificate was edited after it was issued (its digest does not match)")
    return cert


def load_certificate(path: str | os.PathLike) -> Certificate:
    """Read and check a certificate JSON file."""
    return Certificate.from_dict(read_json(path, CertificateError, f"{path}: no such certificate"), str(path))


def check_certificate(cert: Certificate, art: Artifact) -> None:
    """Raise CertificateError unless ``cert`` was issued for exactly this artifact's tensors and recipe (the
    tensor hash does not cover the metadata, and the same images under another recipe are other data)."""
    if cert.artifact_sha256 != art.sha256:
        raise CertificateMismatch(
            f"certificate is for artifact sha256 {cert.artifact_sha256}, but this artifact's sha256 is {art.sha256}"
        )
    issued = cert.raw["protocol"].get("recipe")
    if issued is not None and json.loads(json.dumps(issued)) != json.loads(json.dumps(art.recipe)):
        changed = sorted(k for k in {*issued, *art.recipe} if issued.get(k) != art.recipe.get(k))
        raise CertificateMismatch(
            f"certificate was issued for another training recipe than this artifact declares "
            f"(differs in {', '.join(changed)}); re-run `synthgen verify`"
        )
