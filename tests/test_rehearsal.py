"""Synthetic rehearsal: task t trains on the synthetic sets of tasks 0..t, in the engine and for consumers."""

import pytest
import torch

from synthgen.data.config import TaskConfig
from synthgen.format.recipe import Optimiser
from synthgen.generation.config import GenerateConfig
from synthgen.generation.engine import Engine
from synthgen.generation.result import artifact_from_result
from synthgen.nn.consumer import train_on_tasks
from synthgen.nn.inner_loop import SynthBatch, initial_state, rehearsed, rehearsed_tasks, train_sequence
from synthgen.nn.learners import build_learner
from synthgen.verification.metrics import average_accuracy, max_forgetting
from synthgen.verification.runs import artifact_tasks, evaluate_artifact

from .conftest import tiny_config


def _tasks(n=3, size=4, nc=10, shape=(1, 8, 8)):
    g = torch.Generator().manual_seed(0)
    return [
        (
            torch.randn(size, *shape, generator=g, dtype=torch.float64),
            torch.softmax(torch.randn(size, nc, generator=g, dtype=torch.float64), -1),
            None,
        )
        for _ in range(n)
    ]


def test_rehearsed_tasks_join_the_earlier_images_in_order():
    tasks = _tasks()
    out = rehearsed_tasks(tasks)
    assert [len(x) for x, _, _ in out] == [4, 8, 12]
    assert torch.equal(out[2][0], torch.cat([x for x, _, _ in tasks])) and torch.equal(out[1][1][4:], tasks[1][1])


@pytest.mark.parametrize("name", ["mlp", "cnn_bn"])
def test_engine_rehearsal_trains_exactly_like_the_consumer(name):
    """The differentiable loop on rehearsed batches equals torch.optim on the consumer's rehearsed tasks (float64)."""
    tasks, lrs, opt = _tasks(), [0.05, 0.02, 0.08], Optimiser("sgd", momentum=0.5)
    model = build_learner(name, (1, 8, 8), 10, seed=3).double()
    batches = rehearsed([SynthBatch(x, t, torch.tensor(lr, dtype=torch.float64)) for (x, t, _), lr in zip(tasks, lrs)])
    params, _ = train_sequence(model, initial_state(model), batches, 3, opt)
    plain = build_learner(name, (1, 8, 8), 10, seed=3).double()
    train_on_tasks(plain, tasks, lrs, 3, optimiser=opt)  # without rehearsal: another model
    train_on_tasks(model, rehearsed_tasks(tasks), lrs, 3, optimiser=opt)
    for (k, v), _ in zip(model.named_parameters(), plain.named_parameters()):
        assert torch.allclose(params[k], v, atol=1e-10), k
    assert any(not torch.allclose(v, w) for (_, v), (_, w) in zip(model.named_parameters(), plain.named_parameters()))


def test_task_incremental_rehearsal_keeps_each_images_own_task_mask():
    """Joined tasks keep per-image masks; the engine's loop still equals the consumer's (float64)."""
    tasks = _tasks()
    masks = [torch.zeros(10, dtype=torch.bool).index_fill_(0, torch.tensor([2 * k, 2 * k + 1]), True) for k in range(3)]
    tasks = [(x, t, m) for (x, t, _), m in zip(tasks, masks)]
    joined = rehearsed_tasks(tasks)
    assert (
        joined[2][2].shape == (12, 10)
        and torch.equal(joined[2][2][4], masks[1])
        and torch.equal(joined[0][2][0], masks[0])
    )
    lrs, opt = [0.05, 0.02, 0.08], Optimiser("sgd", momentum=0.5)
    model = build_learner("mlp", (1, 8, 8), 10, seed=3).double()
    batches = rehearsed(
        [SynthBatch(x, t, torch.tensor(lr, dtype=torch.float64), m) for (x, t, m), lr in zip(tasks, lrs)]
    )
    params, _ = train_sequence(model, initial_state(model), batches, 3, opt)
    train_on_tasks(model, joined, lrs, 3, optimiser=opt)
    for k, v in model.named_parameters():
        assert torch.allclose(params[k], v, atol=1e-10), k


def test_rehearsal_is_the_default_and_task_incremental_generates(mnist5k):
    assert GenerateConfig().rehearsal is True
    cfg = tiny_config(rehearsal=True, steps=6, tasks=TaskConfig(split="0,1/2,3", scenario="task-incremental"))
    art = artifact_from_result(Engine(cfg, source=mnist5k).run(), cfg)
    R = evaluate_artifact(art, mnist5k, "mlp", 0).R
    assert art.recipe["rehearsal"] is True and len(R) == 2 and min(R[1]) > 0.5  # task-IL: two binary tasks, both kept


def test_a_rehearsal_artifact_declares_it_and_its_consumer_rehearses(mnist5k):
    """The recipe says so, the verifier's consumer trains task 1 on both tasks' images, and following it keeps
    task 0 far better than training the same images without rehearsal (measured, seeds 0-2: max forgetting
    0.01-0.03 vs 0.95-1.00, final ACC 0.94 vs 0.47-0.50)."""
    cfg = tiny_config(rehearsal=True, steps=60)
    art = artifact_from_result(Engine(cfg, source=mnist5k).run(), cfg)
    assert art.recipe["rehearsal"] is True and "tasks 0..t" in art.recipe["order"]
    assert [len(x) for x, _, _ in artifact_tasks(art)] == [10, 20]
    plain = type(art)(**{**art.__dict__, "metadata": {**art.metadata, "recipe": {**art.recipe, "rehearsal": False}}})
    runs = {k: [evaluate_artifact(a, mnist5k, "mlp", s).R for s in (0, 1, 2)] for k, a in (("r", art), ("p", plain))}
    forget = {k: [max_forgetting(R) for R in v] for k, v in runs.items()}
    acc = {k: [average_accuracy(R) for R in v] for k, v in runs.items()}
    assert max(forget["r"]) + 0.5 < min(forget["p"]), forget
    assert min(acc["r"]) > 0.85 and min(acc["r"]) > max(acc["p"]), acc


def test_rehearsal_changes_what_the_engine_learns(mnist5k):
    three = TaskConfig(split="0,1/2,3/4,5")
    a = Engine(tiny_config(tasks=three, steps=9), source=mnist5k).run()
    b = Engine(tiny_config(tasks=three, steps=9, rehearsal=True), source=mnist5k).run()
    assert torch.equal(a.images[:10], b.images[:10])  # task 0 trains alone either way
    assert not torch.equal(a.images[10:], b.images[10:])  # later tasks are meta-trained through the joined sets
