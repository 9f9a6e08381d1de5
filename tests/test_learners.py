import pytest
import torch

from synthgen.learners import LEARNERS, UnknownLearnerError, build_learner


@pytest.mark.parametrize("name", sorted(LEARNERS))
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 32, 32)])
def test_every_learner_any_size(name, shape):
    model = build_learner(name, shape, 10, seed=3)
    assert model(torch.zeros(2, *shape)).shape == (2, 10)
    assert not list(model.buffers()), "learners must be pure functions of their parameters"


def test_same_seed_same_weights_different_seed_different():
    a, b, c = (build_learner("convnet", (1, 28, 28), 10, seed=s) for s in (1, 1, 2))
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_build_does_not_touch_global_rng():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    build_learner("mlp", (1, 28, 28), 10, seed=5)
    assert torch.equal(torch.rand(1), before)


def test_unknown_learner():
    with pytest.raises(UnknownLearnerError, match="unknown learner 'resnet'"):
        build_learner("resnet", (1, 28, 28), 10, seed=0)
