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
from pathlib import Path

from synthgen.core.errors import SynthgenError
from synthgen.core.io import atomic_write, read_json
from synthgen.format.artifact import Artifact

CERTIFICATE_VERSION = 2


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


def write_certificate(cert: dict, path: str | os.PathLike) -> Path:
    """Atomic JSON write."""
    return atomic_write(path, json.dumps(cert, indent=1, sort_keys=True).encode())


def validate_certificate(cert: object, where: str = "certificate") -> dict:
    """Structure and self-digest checks."""
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


def load_certificate(path: str | os.PathLike) -> dict:
    """Read and validate a certificate JSON file."""
    cert = read_json(path, CertificateError, f"{path}: no such certificate")
    return validate_certificate(cert, str(path))


def check_certificate(cert: dict, art: Artifact) -> None:
    """Raise CertificateError unless ``cert`` was issued for exactly this artifact's tensors and recipe (the
    tensor hash does not cover the metadata, and the same images under another recipe are other data)."""
    validate_certificate(cert)
    if cert["artifact_sha256"] != art.sha256:
        raise CertificateMismatch(
            f"certificate is for artifact sha256 {cert['artifact_sha256']}, but this artifact's sha256 is {art.sha256}"
        )
    issued = cert["protocol"].get("recipe")
    if issued is not None and json.loads(json.dumps(issued)) != json.loads(json.dumps(art.recipe)):
        changed = sorted(k for k in {*issued, *art.recipe} if issued.get(k) != art.recipe.get(k))
        raise CertificateMismatch(
            f"certificate was issued for another training recipe than this artifact declares "
            f"(differs in {', '.join(changed)}); re-run `synthgen verify`"
        )
