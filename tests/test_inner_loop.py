"""The meta-gradient kernel: it must be exactly SGD, and its gradient must be right."""
import torch
from torch.func import vmap

from synthgen.inner_loop import SynthBatch, real_loss, sgd_steps, stack_params, train_sequence
from synthgen.learners import build_learner
from synthgen.recipe import train_on_tasks


def _batch(n=6, classes=4, shape=(1, 5, 5), seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=g, dtype=dtype)
    t = torch.softmax(torch.randn(n, classes, generator=g, dtype=dtype), -1)
    return x, t


def _mlp_and_leaf_batch(shape, nc, seed):
    """An MLP, its detached initial parameters, and a 6-image batch whose pixels require grad."""
    model = build_learner("mlp", shape, nc, seed=seed)
    x, t = _batch(6, nc, shape)
    return model, {k: v.detach() for k, v in model.named_parameters()}, x.requires_grad_(True), t


def test_functional_loop_equals_torch_optim_sgd():
    shape, nc = (1, 28, 28), 10
    tasks = []
    for s in range(3):
        x, t = _batch(12, nc, shape, seed=s)
        tasks.append((x, t, None))
    lrs = [0.05, 0.02, 0.08]
    model = build_learner("convnet", shape, nc, seed=7)
    p = {k: v.detach().clone() for k, v in model.named_parameters()}
    batches = [SynthBatch(x, t, torch.tensor(lr)) for (x, t, _), lr in zip(tasks, lrs)]
    p = train_sequence(model, p, batches, steps=4)
    train_on_tasks(model, tasks, lrs, steps=4)
    for k, v in model.named_parameters():
        assert torch.allclose(p[k], v, atol=1e-6), k


def test_momentum_loop_equals_torch_optim_sgd_with_a_fresh_optimiser_per_task():
    shape, nc = (1, 10, 10), 10
    tasks = [(*_batch(12, nc, shape, seed=s), None) for s in range(3)]
    lrs = [0.05, 0.02, 0.08]
    model = build_learner("mlp", shape, nc, seed=3)
    p0 = {k: v.detach().clone() for k, v in model.named_parameters()}
    batches = [SynthBatch(x, t, torch.tensor(lr)) for (x, t, _), lr in zip(tasks, lrs)]
    p = train_sequence(model, p0, batches, steps=5, momentum=0.6)
    plain = train_sequence(model, p0, batches, steps=5)
    train_on_tasks(model, tasks, lrs, steps=5, momentum=0.6)
    for k, v in model.named_parameters():
        assert torch.allclose(p[k], v, atol=1e-6), k
        assert not torch.allclose(p[k], plain[k], atol=1e-4), k  # momentum changed the training


def test_truncation_with_momentum_keeps_the_forward_pass():
    shape, nc = (1, 5, 5), 4
    model, p0, x, t = _mlp_and_leaf_batch(shape, nc, seed=4)
    b = SynthBatch(x, t, torch.tensor(0.1))
    full = train_sequence(model, p0, [b, b], 6, momentum=0.5)
    trunc = train_sequence(model, p0, [b, b], 6, momentum=0.5, backprop_steps=2)
    for k in full:
        assert torch.allclose(full[k], trunc[k], atol=1e-6)


def test_task_mask_matches_sgd_with_masked_logits():
    shape, nc = (1, 5, 5), 4
    x, t = _batch(6, nc, shape)
    mask = torch.tensor([True, True, False, False])
    t = torch.softmax(torch.randn(6, nc).masked_fill(~mask, -1e9), -1)
    model = build_learner("mlp", shape, nc, seed=1)
    p = {k: v.detach().clone() for k, v in model.named_parameters()}
    p = sgd_steps(model, p, SynthBatch(x, t, torch.tensor(0.1), mask), steps=3)
    train_on_tasks(model, [(x, t, mask)], [0.1], steps=3)
    for k, v in model.named_parameters():
        assert torch.allclose(p[k], v, atol=1e-6)


def test_meta_gradient_gradcheck_float64():
    """d(real loss after 2 tasks x 3 SGD steps)/d(synthetic images, soft-label logits, log lr)."""
    torch.manual_seed(0)
    shape, nc = (1, 3, 3), 3
    model = build_learner("mlp", shape, nc, seed=2).double()
    p0 = {k: v.detach() for k, v in model.named_parameters()}
    x0, t0 = _batch(3, nc, shape, seed=1, dtype=torch.float64)
    frozen = SynthBatch(x0, t0, torch.tensor(0.3, dtype=torch.float64))
    x = torch.randn(4, *shape, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(4, nc, dtype=torch.float64, requires_grad=True)
    log_lr = torch.tensor(-1.0, dtype=torch.float64, requires_grad=True)
    rx = torch.randn(8, *shape, dtype=torch.float64)
    ry = torch.randint(nc, (8,))

    def meta_loss(x, logits, log_lr):
        batch = SynthBatch(x, torch.softmax(logits, -1), log_lr.exp())
        p = train_sequence(model, p0, [frozen, batch], steps=3)
        return real_loss(model, p, rx, ry)

    assert torch.autograd.gradcheck(meta_loss, (x, logits, log_lr), eps=1e-6, atol=1e-5)


def test_vmap_over_inits_equals_a_loop():
    shape, nc = (1, 6, 6), 4
    models = [build_learner("mlp", shape, nc, seed=s) for s in range(3)]
    x, t = _batch(8, nc, shape)
    x.requires_grad_(True)
    batch = SynthBatch(x, t, torch.tensor(0.1))
    rx, ry = torch.randn(10, *shape), torch.randint(nc, (10,))

    def f(p):
        return real_loss(models[0], sgd_steps(models[0], p, batch, 3), rx, ry)

    batched = vmap(f)(stack_params(models))
    (g_vmap,) = torch.autograd.grad(batched.sum(), x)
    looped = [f({k: v.detach() for k, v in m.named_parameters()}) for m in models]
    (g_loop,) = torch.autograd.grad(sum(looped), x)
    assert torch.allclose(batched, torch.stack(looped), atol=1e-6)
    assert torch.allclose(g_vmap, g_loop, atol=1e-6)


def test_truncated_backprop_same_forward_and_gradient_from_last_steps_only():
    shape, nc = (1, 5, 5), 4
    model, p0, x, t = _mlp_and_leaf_batch(shape, nc, seed=3)
    b = SynthBatch(x, t, torch.tensor(0.1))
    rx, ry = torch.randn(10, *shape), torch.randint(nc, (10,))
    full = train_sequence(model, p0, [b], 6)
    trunc = train_sequence(model, p0, [b], 6, backprop_steps=2)
    for k in full:
        assert torch.allclose(full[k], trunc[k], atol=1e-6)  # same training, only the graph differs
    (g_full,) = torch.autograd.grad(real_loss(model, full, rx, ry), x)
    (g_trunc,) = torch.autograd.grad(real_loss(model, trunc, rx, ry), x)
    assert not torch.allclose(g_full, g_trunc)
    # the truncated gradient is exactly the gradient through the last 2 steps from the detached state
    mid = train_sequence(model, p0, [SynthBatch(x.detach(), t, torch.tensor(0.1))], 4)
    (g_manual,) = torch.autograd.grad(real_loss(model, sgd_steps(model, mid, b, 2), rx, ry), x)
    assert torch.allclose(g_trunc, g_manual, atol=1e-6)


def test_augmented_views_step_by_step_and_truncation_keeps_them_in_place():
    from synthgen.augment import random_affine

    shape, nc = (1, 8, 8), 4
    model, p0, x, t = _mlp_and_leaf_batch(shape, nc, seed=5)
    views = random_affine(x, 4, torch.Generator().manual_seed(0))
    assert views.shape == (4, *x.shape)
    assert not torch.allclose(views[0], x) and not torch.allclose(views[0], views[1])  # fresh draw per step
    b = SynthBatch(x, t, torch.tensor(0.1), views=views)
    # step i trains on views[i]: the same as 4 one-step batches built from those views
    manual = p0
    for v in views:
        manual = sgd_steps(model, manual, SynthBatch(v, t, torch.tensor(0.1)), 1)
    got = train_sequence(model, p0, [b], 4)
    plain = train_sequence(model, p0, [SynthBatch(x, t, torch.tensor(0.1))], 4)
    for k in got:
        assert torch.allclose(got[k], manual[k], atol=1e-6)
        assert not torch.allclose(got[k], plain[k], atol=1e-4)
    trunc = train_sequence(model, p0, [b], 4, backprop_steps=2)
    for k in got:
        assert torch.allclose(got[k], trunc[k], atol=1e-6)  # truncation keeps views[2:] on steps 2 and 3
    # the meta-gradient reaches the pixels through the transform
    rx, ry = torch.randn(10, *shape), torch.randint(nc, (10,))
    (gx,) = torch.autograd.grad(real_loss(model, got, rx, ry), x)
    assert gx.abs().sum() > 0


def test_random_affine_is_a_function_of_its_generator():
    from synthgen.augment import random_affine

    x = torch.rand(5, 1, 28, 28)
    a = random_affine(x, 3, torch.Generator().manual_seed(1))
    b = random_affine(x, 3, torch.Generator().manual_seed(1))
    c = random_affine(x, 3, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    # a constant image stays constant (border padding: no black frame drawn into a background)
    flat = random_affine(torch.full((2, 1, 28, 28), -0.4), 2, torch.Generator().manual_seed(0))
    assert torch.allclose(flat, torch.full_like(flat, -0.4), atol=1e-5)
