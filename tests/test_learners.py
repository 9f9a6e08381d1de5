"""The learner zoo: every family builds at any input size, seeded, and a user's own network imports cleanly."""

import pytest
import torch
from torch import nn

from synthgen.nn.learners import (
    ZOO,
    UnknownLearnerError,
    build_learner,
    check_archs,
    family_of,
    has_batchnorm,
    in_fast_layout,
)

FAMILIES = {"mlp", "convnet", "cnn", "cnn_bn", "lenet", "convnet3", "resnet"}


def test_the_zoo_covers_the_families_consumers_use():
    assert {e.family for e in ZOO.values()} == FAMILIES
    assert has_batchnorm(build_learner("cnn_bn", (1, 28, 28), 10, 0))
    assert has_batchnorm(build_learner("resnet8", (1, 28, 28), 10, 0))
    assert any(isinstance(m, nn.MaxPool2d) for m in build_learner("cnn", (1, 28, 28), 10, 0).modules())
    assert any(isinstance(m, nn.GroupNorm) for m in build_learner("convnet3", (1, 28, 28), 10, 0).modules())
    widths = [m.out_features for m in build_learner("mlp3", (1, 28, 28), 10, 0).modules() if isinstance(m, nn.Linear)]
    assert widths == [512, 256, 128, 10]


def test_instance_norm_scores_each_image_alone_where_batchnorm_mixes_the_batch():
    # what the no-rehearsal pool's convnet_in shares with ConvNet-3 and convnet_bn does not
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for name, alone in (("convnet_in", True), ("convnet3_s", True), ("convnet_bn", False)):
        model = build_learner(name, (1, 28, 28), 10, 0).train()
        assert torch.allclose(model(x)[:4], model(x[:4]), atol=1e-5) is alone, name


@pytest.mark.parametrize("name", sorted(ZOO))
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 32, 32)])
def test_every_learner_any_size(name, shape):
    model = build_learner(name, shape, 10, seed=3)
    assert model(torch.zeros(2, *shape)).shape == (2, 10)


@pytest.mark.parametrize("name", ["cnn", "cnn_bn", "lenet", "resnet8"])
def test_max_pool_and_batchnorm_learners_train_in_channels_last_as_the_same_network(name):
    from synthgen.verification.cache import learner_digest

    plain = build_learner(name, (1, 28, 28), 10, seed=2)
    fast = in_fast_layout(name, build_learner(name, (1, 28, 28), 10, seed=2))
    convs = [  # a 1-channel or 1x1 weight is contiguous in both formats
        m.weight for m in fast.modules() if isinstance(m, nn.Conv2d) and m.in_channels > 1 and m.kernel_size != (1, 1)
    ]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in convs)
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for model in (plain, fast):  # one training step each: the same function and the same gradients
        torch.nn.functional.cross_entropy(model(x), torch.arange(16) % 10).backward()
        torch.optim.SGD(model.parameters(), lr=0.1).step()
    plain.eval(), fast.eval()
    assert torch.allclose(plain(x), fast(x), atol=1e-4)
    assert learner_digest(plain) != learner_digest(fast)  # the verifier's cache keeps the two apart


def test_instance_norm_mlps_and_users_networks_keep_their_layout(consumer_nets):
    for name in ("convnet3_s", "mlp", f"{consumer_nets}:build"):
        model = in_fast_layout(name, build_learner(name, (1, 28, 28), 10, seed=0))
        assert all(p.is_contiguous() for p in model.parameters())


def test_same_seed_same_weights_different_seed_different():
    a, b, c = (build_learner("resnet8", (1, 28, 28), 10, seed=s) for s in (1, 1, 2))
    for pa, pb, _ in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_build_does_not_touch_global_rng():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    build_learner("lenet", (1, 28, 28), 10, seed=5)
    assert torch.equal(torch.rand(1), before)


def test_unknown_learner():
    with pytest.raises(UnknownLearnerError, match="unknown learner 'resnet'.*pkg.module:callable"):
        build_learner("resnet", (1, 28, 28), 10, seed=0)


def test_building_a_learner_leaves_the_callers_random_state_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    a, b = build_learner("mlp", (1, 28, 28), 10, seed=1), build_learner("mlp", (1, 28, 28), 10, seed=1)
    assert torch.equal(torch.rand(3), expected)  # the global stream goes on as if nothing was built
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_a_users_network_is_built_under_every_devices_seed(consumer_nets, monkeypatch):
    """The zoo builds on the CPU; a user's network may build on an accelerator, so its every RNG is seeded."""
    seeds, real = [], torch.manual_seed
    monkeypatch.setattr(torch, "manual_seed", lambda s: seeds.append(s) or real(s))
    build_learner("mlp", (1, 28, 28), 10, seed=3)
    build_learner(f"{consumer_nets}:build", (1, 28, 28), 10, seed=4)
    assert seeds == [4]


def test_a_users_own_network_builds_seeded(consumer_nets):
    a, b = (build_learner(f"{consumer_nets}:build", (1, 28, 28), 10, seed=4) for _ in range(2))
    assert a(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert family_of(f"{consumer_nets}:build") == "user"


@pytest.mark.parametrize(
    "spec,msg",
    [
        ("no_such_module_xyz:build", "cannot import module 'no_such_module_xyz'"),
        ("consumer_nets:missing", "has no attribute 'missing'"),
        ("consumer_nets:CONSTANT", "'CONSTANT' is not callable"),
        ("consumer_nets:", "expected 'package.module:callable'"),
    ],
)
def test_bad_user_networks_are_one_clear_error(consumer_nets, spec, msg):
    with pytest.raises(UnknownLearnerError, match=msg):
        check_archs([spec])


def test_a_callable_that_returns_no_module_is_refused(consumer_nets):
    with pytest.raises(UnknownLearnerError, match="returned str, not a torch.nn.Module"):
        build_learner("consumer_nets:not_a_module", (1, 28, 28), 10, seed=0)
