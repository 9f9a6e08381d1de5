"""The default artifact is certified by the default verify (issue 17): slow, run by hand or by benchmarks/.

    python -m pytest -m slow tests/test_default_certified.py             # generates the default (~15-35 min), verifies
    SYNTHGEN_DEFAULT_ARTIFACT=runs/split_mnist.safetensors python -m pytest -m slow tests/test_default_certified.py

The second form verifies an artifact already made with the defaults (the test checks that it was);
SYNTHGEN_DEFAULT_CACHE_DIR, if set, is the verify cache to reuse peer cells from (the suite's fixtures point
SYNTHGEN_CACHE_DIR at a fresh folder for every test).
"""

from __future__ import annotations

import os

import pytest

from synthgen import api
from synthgen.generation.config import GenerateConfig
from synthgen.verification.methods import SYNTHETIC, judged_peers

pytestmark = pytest.mark.slow


def test_the_default_artifact_is_certified(tmp_path):
    given = os.environ.get("SYNTHGEN_DEFAULT_ARTIFACT")
    art = api.load(given) if given else api.generate(GenerateConfig(), out=tmp_path / "split_mnist.safetensors")
    assert art.metadata["generation"]["run_hash"] == GenerateConfig().run_hash(), "not made with the default config"
    cert = api.verify(art, cache=os.environ.get("SYNTHGEN_DEFAULT_CACHE_DIR", True))
    assert cert.artifact_sha256 == art.sha256
    assert cert.certified, "\n".join(r for r in cert.reasons if "FAILS" in r)
    for arch, r in cert.learners.items():  # the verdict's own comparison, restated: every learner beats both peers
        for peer in judged_peers(len(art.labels)):
            assert r.methods[SYNTHETIC.name].acc > r.methods[peer.name].acc, (arch, peer)
