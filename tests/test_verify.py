"""The verifier: controls that must fail, an engine artifact that passes, exact re-checks."""
import copy

import pytest
import torch

from synthgen.api import verify
from synthgen.artifact import Artifact, save_artifact
from synthgen.certificate import CERTIFIED, NOT_CERTIFIED, CertificateError, check_certificate, validate_certificate
from synthgen.config import VerifyConfig
from synthgen.recipe import make_recipe
from synthgen.sources import normalise
from synthgen.verify import BASELINES, JOINT, STRESS, SYNTHETIC, plan

FAST = VerifyConfig(seeds=(0, 1), heldout=("mlp256",), baselines=False, min_acc=0.8, max_forgetting=0.15)


def _control(tiny_artifact, images, labels, lr=0.05, soft=None):
    meta = copy.deepcopy(tiny_artifact.metadata)
    meta["recipe"] = make_recipe([lr, lr], tiny_artifact.recipe["steps_per_task"], [10, 10], meta["scenario"],
                                 soft is not None)
    return Artifact(images, labels, tiny_artifact.task_ids.clone(), meta, soft)


def test_engine_artifact_is_certified_and_rechecks(tiny_artifact, mnist5k):
    cert = verify(tiny_artifact, FAST)
    assert cert["verdict"] == CERTIFIED, cert["reasons"]
    assert cert["artifact_sha256"] == tiny_artifact.sha256
    mlp = cert["results"]["mlp"]
    assert mlp["group"] == "generation" and cert["results"]["mlp256"]["group"] == "heldout"
    assert len(mlp["methods"][SYNTHETIC]["matrices"]) == 2  # one per seed
    check_certificate(cert, tiny_artifact)
    # a one-pixel change: a different artifact, the check names both hashes
    other = Artifact(tiny_artifact.images.clone(), tiny_artifact.labels, tiny_artifact.task_ids,
                     copy.deepcopy(tiny_artifact.metadata), tiny_artifact.soft_labels)
    other.images[0, 0, 14, 14] += 0.01
    with pytest.raises(CertificateError, match=f"{tiny_artifact.sha256}.*{other.sha256}"):
        check_certificate(cert, other)


def test_evaluation_follows_the_recipes_momentum(tiny_artifact, mnist5k):
    """evaluate_artifact trains with the recipe's momentum: the same as train_on_tasks with it, unlike without."""
    from synthgen.evaluation import accuracy, artifact_tasks, evaluate_artifact, real_test_sets
    from synthgen.learners import build_learner
    from synthgen.recipe import train_on_tasks
    from synthgen.seeding import derive_seed

    meta = copy.deepcopy(tiny_artifact.metadata)
    meta["recipe"]["momentum"] = 0.7
    art = Artifact(tiny_artifact.images, tiny_artifact.labels, tiny_artifact.task_ids, meta, tiny_artifact.soft_labels)
    with_momentum = evaluate_artifact(art, mnist5k, "mlp", seed=0).R
    assert with_momentum != evaluate_artifact(tiny_artifact, mnist5k, "mlp", seed=0).R
    model = build_learner("mlp", (1, 28, 28), 10, derive_seed(0, "learner", "mlp"))
    train_on_tasks(model, artifact_tasks(art), art.recipe["lr_per_task"], art.recipe["steps_per_task"], momentum=0.7)
    tests = real_test_sets(mnist5k, art.tasks, meta["source"]["normalisation"])
    assert [accuracy(model, x, y) for x, y in tests] == with_momentum[-1]


def test_real_data_artifact_is_not_certified(tiny_artifact, mnist5k):
    """Real images cut into the same tasks, hard labels: the learner forgets task 0."""
    x, y = mnist5k.split("train")
    norm = tiny_artifact.metadata["source"]["normalisation"]
    g = torch.Generator().manual_seed(0)
    picks = torch.cat([torch.nonzero(y == c).flatten()[torch.randperm(350, generator=g)[:5]] for c in range(4)])
    art = _control(tiny_artifact, normalise(x[picks], norm), y[picks].clone())
    cert = verify(art, FAST)
    assert cert["verdict"] == NOT_CERTIFIED
    assert cert["results"]["mlp"]["methods"][SYNTHETIC]["max_forgetting_mean"] > 0.5
    assert any("FAILS" in r for r in cert["reasons"])


def test_random_noise_artifact_is_not_certified(tiny_artifact):
    art = _control(tiny_artifact, torch.randn(20, 1, 28, 28, generator=torch.Generator().manual_seed(1)),
                   tiny_artifact.labels.clone())
    cert = verify(art, FAST)
    assert cert["verdict"] == NOT_CERTIFIED
    assert cert["results"]["mlp"]["methods"][SYNTHETIC]["acc_mean"] < 0.6


def test_deterministic(tiny_artifact):
    cfg = VerifyConfig(seeds=(0,), heldout=(), baselines=False)
    a, b = verify(tiny_artifact, cfg), verify(tiny_artifact, cfg)
    assert a["results"] == b["results"] and a["verdict"] == b["verdict"]


def test_baselines_and_stress_in_the_same_run(tiny_artifact):
    cfg = VerifyConfig(seeds=(0,), heldout=(), stress=True, joint_epochs=1)
    cert = verify(tiny_artifact, cfg)
    methods = cert["results"]["mlp"]["methods"]
    assert set(BASELINES) <= set(methods) and "lr x2" in methods and "shuffled half batches" in methods
    assert cert["protocol"]["scenarios"] == ["recipe", *STRESS]
    # the synthetic data beats sequential training on real data, and joint is the upper bound
    assert methods[SYNTHETIC]["acc_mean"] > methods["real sequence (1 epoch)"]["acc_mean"] + 0.25
    assert methods[JOINT]["acc_mean"] > 0.9
    # the joint bound per task, next to the synthetic data's final per-task accuracy
    joint_tasks = methods[JOINT]["per_task_final"]
    assert len(joint_tasks) == len(tiny_artifact.tasks) == len(methods[SYNTHETIC]["per_task_final"])
    assert min(joint_tasks) > 0.8 and min(joint_tasks) <= methods[JOINT]["acc_mean"] <= max(joint_tasks)
    # metrics for the task-incremental view are reported too
    assert methods[SYNTHETIC]["task_incremental_acc_mean"] >= methods[SYNTHETIC]["acc_mean"]


def test_plan_grid_shape(tiny_artifact):
    jobs = plan(tiny_artifact, VerifyConfig(seeds=(0, 1, 2), stress=True))
    archs = {j.arch for j in jobs}
    assert archs == {"mlp", "mlp256", "convpool"}
    assert len(jobs) == 3 * 3 * (1 + 5 + 4)


def test_edited_certificate_detected(tiny_artifact):
    cert = verify(tiny_artifact, VerifyConfig(seeds=(0,), heldout=(), baselines=False, min_acc=0.99))
    assert cert["verdict"] == NOT_CERTIFIED
    forged = dict(cert, verdict=CERTIFIED)
    with pytest.raises(CertificateError, match="edited"):
        validate_certificate(forged)


def test_wrong_split_refused(tiny_artifact):
    from synthgen.sources import SourceError

    meta = copy.deepcopy(tiny_artifact.metadata)
    meta["source"]["split"]["test_index_sha256"] = "0" * 16
    art = Artifact(tiny_artifact.images, tiny_artifact.labels, tiny_artifact.task_ids, meta, tiny_artifact.soft_labels)
    with pytest.raises(SourceError, match="different test split"):
        verify(art, FAST)


def test_chunked_prediction_equals_one_pass():
    import torch

    from synthgen.evaluation import EVAL_CHUNK, predict
    from synthgen.learners import build_learner

    model = build_learner("convnet", (1, 28, 28), 10, seed=0)
    x = torch.randn(EVAL_CHUNK * 2 + 7, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(predict(model, x), model(x), atol=1e-5)


def test_joint_per_task_follows_the_scenario(mnist5k):
    """The joint bound is measured in the sequence's scenario: task-incremental masks each image's logits to its
    task's classes, which can only help; the overall figure is the per-task figures weighted by test images."""
    from synthgen.evaluation import joint_accuracy

    tasks, norm = [(3, 5), (4, 9)], mnist5k.normalisation()  # pairs that a 10-way head confuses with others
    ci = joint_accuracy(mnist5k, tasks, norm, "mlp", 0, epochs=1)
    ti = joint_accuracy(mnist5k, tasks, norm, "mlp", 0, epochs=1, scenario="task-incremental")
    assert all(t >= c for t, c in zip(ti.per_task, ci.per_task)) and ti.per_task != ci.per_task and ti.acc > ci.acc
    sizes = [int(torch.isin(mnist5k.split("test")[1], torch.tensor(t)).sum()) for t in tasks]
    for run in (ci, ti):
        assert run.acc == pytest.approx(sum(a * n for a, n in zip(run.per_task, sizes)) / sum(sizes))


def test_verify_measures_the_joint_bound_in_the_artifacts_scenario(tiny_artifact):
    """The same data declared task-incremental gets a task-incremental joint bound (masked), not the 10-way one."""
    from synthgen.artifact import Artifact

    meta = copy.deepcopy(tiny_artifact.metadata)
    meta["scenario"] = meta["recipe"]["scenario"] = "task-incremental"
    til = Artifact(tiny_artifact.images, tiny_artifact.labels, tiny_artifact.task_ids, meta, tiny_artifact.soft_labels)
    cfg = VerifyConfig(seeds=(0,), archs=("mlp",), heldout=(), joint_epochs=1, min_acc=0.0, max_forgetting=1.0)
    ci, ti = (verify(a, cfg)["results"]["mlp"]["methods"][JOINT] for a in (tiny_artifact, til))
    assert all(t >= c for t, c in zip(ti["per_task_final"], ci["per_task_final"]))
    assert ti["acc_mean"] > ci["acc_mean"]
