"""The refactoring guard: the default method's data at a small configuration is bit-identical to the hash
recorded before the code was regrouped (one thread, CPU). A change that moves these hashes changes what
`synthgen generate` makes, and must say so."""

import pytest
import torch

import synthgen

SMALL = dict(steps=15, replay_pool=8, eval_every=0, checkpoint_every=0, device="cpu")
RECORDED = {
    "default": "048f7819ae658cb11ed96d8b1029c59330523ca2c62578fbf15670fec379bc96",
    "no-rehearsal": "d08ec5086e1a135abd25ee36712fa5b7973630f9bb6d570f46e9d054489043d6",
}


@pytest.mark.parametrize("name,overrides", [("default", {}), ("no-rehearsal", {"rehearsal": False})])
def test_default_data_is_bit_identical_to_the_recorded_hash(name, overrides):
    assert torch.get_num_threads() == 1
    art = synthgen.generate(synthgen.GenerateConfig(**SMALL, **overrides))
    assert art.sha256 == RECORDED[name]
