"""The refactoring guard: the default method's data at a small configuration is bit-identical to the hash
recorded before the code was regrouped (one thread, CPU). A change that moves these hashes changes what
`synthgen generate` makes, and must say so."""

import pytest
import torch

import synthgen

SMALL = dict(steps=15, replay_pool=8, eval_every=0, checkpoint_every=0, device="cpu")
RECORDED = {
    "default": "6354ebeb8e089741ab18e8a97e61c53882dcebcaffd755d93cc2fe1910598efe",
    "no-rehearsal": "c5a36506448e5dd4b564567faa0b7c9c56b36ad1d8018e24e592e9d1eb76846d",
}


@pytest.mark.parametrize("name,overrides", [("default", {}), ("no-rehearsal", {"rehearsal": False})])
def test_default_data_is_bit_identical_to_the_recorded_hash(name, overrides):
    assert torch.get_num_threads() == 1
    art = synthgen.generate(synthgen.GenerateConfig(**SMALL, **overrides))
    assert art.sha256 == RECORDED[name]
