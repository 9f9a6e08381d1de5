"""The verifier: peers at the same memory, a relative verdict, controls that must fail, exact re-checks."""

import copy
import dataclasses

import pytest
import torch

from synthgen.api import verify
from synthgen.data.sources import normalise
from synthgen.format.artifact import Artifact
from synthgen.format.certificate import (
    CERTIFIED,
    NOT_CERTIFIED,
    CertificateError,
    check_certificate,
    validate_certificate,
)
from synthgen.format.recipe import make_recipe
from synthgen.nn import consumer
from synthgen.verification import cells, grid, runs
from synthgen.verification.cells import run_job
from synthgen.verification.config import VerifyConfig
from synthgen.verification.grid import plan, plan_lr_grid
from synthgen.verification.lineup import arch_groups, default_heldout, feature_archs, sized_for, source_for
from synthgen.verification.methods import JOINT, MEMORY_FREE, STRESS, SYNTHETIC, Job, alternatives
from synthgen.verification.metrics import forgetting, seen_accuracy
from synthgen.verification.peers import GDumbBudget
from synthgen.verification.schedule import Board
from synthgen.verification.verdict import judge

from .conftest import ONE

# the joint bound at 2 epochs; the tuning itself is tested in test_peers_lr_and_epochs_are_chosen_on_validation
FAST = VerifyConfig(seeds=(0, 1), heldout=("mlp256",), memory_free=False, joint_epochs=2, **ONE)
CONTROL = FAST.merged({"heldout": []})  # the controls on the generation pool's MLP alone


def _control(art, images, labels, lr=0.05, soft=None, rehearsal=False):
    """The same tasks and metadata as ``art`` with other images (hard labels unless ``soft``)."""
    meta = copy.deepcopy(art.metadata)
    sizes = [int((art.task_ids == i).sum()) for i in range(len(art.tasks))]
    meta["recipe"] = make_recipe(
        [lr] * len(sizes), art.recipe["steps_per_task"], sizes, meta["scenario"], soft is not None, rehearsal=rehearsal
    )
    return Artifact(images, labels, art.task_ids.clone(), meta, soft)


@pytest.fixture(scope="module")
def fast_cert(small_artifact):
    return verify(small_artifact, FAST)


def test_engine_artifact_beats_its_same_memory_peers_and_is_certified(fast_cert, small_artifact):
    cert = fast_cert
    assert cert.raw["verdict"] == CERTIFIED, cert.raw["reasons"]
    assert cert.raw["artifact_sha256"] == small_artifact.sha256
    mlp = cert.raw["results"]["mlp"]
    assert (mlp["group"], cert.raw["results"]["mlp256"]["group"]) == ("generation", "heldout")
    assert mlp["family"] == "mlp" and mlp["params"] == 784 * 100 + 100 + 100 * 10 + 10
    assert {"Replay-50", "Replay-250", "GDumb-50", JOINT.name} <= set(mlp["methods"])  # N = the artifact's 50 images
    assert len(mlp["methods"][SYNTHETIC.name]["matrices"]) == 2  # one per seed
    for peer in ("Random-50", "Herding-50", "GDumb-50"):  # every reason names the figure, the peer, the margin
        assert any(
            r.startswith("mlp (generation): final ACC") and peer in r and "margin" in r for r in cert.raw["reasons"]
        )
    assert any(line.startswith("mlp (generation): final ACC") and "Replay-50" in line for line in cert.references)
    assert not any("Replay" in r for r in cert.reasons)  # Replay learns from the whole stream: a reference
    assert cert.learners["mlp"].methods[SYNTHETIC.name].lead["Random-50"].mean > 0.05  # the gain over random
    assert cert.raw["thresholds"]["peer_margin"] == FAST.peer_margin
    check_certificate(cert, small_artifact)
    other = Artifact(
        small_artifact.images.clone(),
        small_artifact.labels,
        small_artifact.task_ids,
        copy.deepcopy(small_artifact.metadata),
        small_artifact.soft_labels,
    )
    other.images[0, 0, 14, 14] += 0.01  # a one-pixel change: a different artifact, the check names both hashes
    with pytest.raises(CertificateError, match=f"{small_artifact.sha256}.*{other.sha256}"):
        check_certificate(cert, other)
    longer = copy.deepcopy(small_artifact)
    longer.metadata["recipe"]["steps_per_task"] *= 2  # the same images under another recipe: other data
    assert longer.sha256 == small_artifact.sha256
    with pytest.raises(CertificateError, match="another training recipe.*differs in steps_per_task"):
        check_certificate(cert, longer)


def test_continual_metrics_are_recorded_per_step(fast_cert):
    s = fast_cert.raw["results"]["mlp"]["methods"][SYNTHETIC.name]
    assert len(s["seen_curve"]) == 5 and s["min_seen_acc_mean"] <= min(s["seen_curve"]) + 1e-9
    assert s["avg_incremental_acc_mean"] == pytest.approx(sum(s["seen_curve"]) / 5)
    joint = fast_cert.raw["results"]["mlp"]["methods"][JOINT.name]
    assert len(joint["seen_curve"]) == 5 and joint["seen_curve"][0] > 0.95  # 2 classes after the first step
    assert s["joint_step_ratio"] == pytest.approx([a / b for a, b in zip(s["seen_curve"], joint["seen_curve"])])


def test_forgetting_is_judged_beyond_the_joint_bounds_forgetting_of_the_same_task(fast_cert):
    """The joint bound trains a fresh learner per prefix: what it 'forgets' is the confusion that new classes bring.
    The verdict bounds the data's forgetting beyond it, task by task, and its reason line names both figures."""
    results = fast_cert.raw["results"]["mlp"]["methods"]
    s, joint = results[SYNTHETIC.name], results[JOINT.name]
    assert joint["seeds"] == [0, 1] == fast_cert.raw["protocol"]["joint"]["seeds"]  # joint_seeds 3 > FAST's 2 seeds
    assert len(joint["forgetting"]) == 4  # per task, the mean over its seeds: never above the mean of their maxima
    assert max(joint["forgetting"]) <= joint["max_forgetting_mean"] + 1e-9
    beyond = [max(f - max(j, 0) for f, j in zip(forgetting(R), joint["forgetting"])) for R in s["matrices"]]
    assert s["forgetting_beyond_joint_mean"] == pytest.approx(sum(beyond) / len(beyond))
    line = next(r for r in fast_cert.raw["reasons"] if r.startswith("mlp (generation): max forgetting"))
    assert f"max forgetting {s['max_forgetting_mean']:.3f}, {s['forgetting_beyond_joint_mean']:+.3f} beyond" in line
    data = [r["methods"][SYNTHETIC.name] for r in fast_cert.raw["results"].values()]
    worst = max(d["forgetting_beyond_joint_mean"] for d in data)
    least = min(d["max_forgetting_mean"] for d in data)
    assert worst < least - 0.01  # measured: 0.035 beyond the joint bound, 0.060 in all (mlp256, mlp)
    assert not judge(fast_cert.raw["results"], dataclasses.replace(FAST, max_forgetting=worst - 0.001), 50).certified
    # a bound that every learner's whole forgetting breaks, and its forgetting beyond the joint bound's meets
    assert judge(fast_cert.raw["results"], dataclasses.replace(FAST, max_forgetting=(worst + least) / 2), 50).certified


def test_the_joint_bounds_forgetting_is_each_tasks_mean_over_its_seeds():
    """One prefix learner's drop on a task varies from seed to seed (Fashion-MNIST, mlp: 0.06-0.13 on task 0), so
    the figure the verdict subtracts is each task's mean over the joint bound's seeds."""
    from synthgen.verification.summary import gather, summarise

    rows = [[[1.0], [0.9, 1.0], [0.8, 0.9, 1.0]], [[1.0], [0.7, 1.0], [0.7, 1.0, 1.0]]]  # forgetting .2/.1, .3/0
    cells = [{"acc": 0.9, "per_task": R[-1], "rows": R} for R in rows]
    s = summarise(cells)
    assert s["forgetting"] == pytest.approx([0.25, 0.05]) and s["max_forgetting_mean"] == pytest.approx(0.25)
    data = [[0.9], [0.6, 0.9], [0.5, 0.8, 0.9]]  # forgetting 0.4 on task 0, 0.1 on task 1
    jobs = [Job("mlp", JOINT, 0), Job("mlp", JOINT, 1), Job("mlp", SYNTHETIC, 0)]
    data_cell = {"R": data, "R_task": data}
    got = gather(jobs, [*cells, data_cell], {"mlp": {}}, ())["mlp"]["methods"][SYNTHETIC.name]
    assert got["forgetting_beyond_joint_mean"] == pytest.approx(0.4 - 0.25)  # one seed alone: 0.2 or 0.1


def test_each_lead_over_a_peer_is_paired_by_seed_with_its_standard_error(fast_cert):
    mlp = fast_cert.raw["results"]["mlp"]["methods"]
    data_final = [sum(R[-1]) / len(R[-1]) for R in mlp[SYNTHETIC.name]["matrices"]]
    for peer in ("Random-50", "Herding-50", "GDumb-50"):
        p = mlp[peer]  # GDumb is scored after the last task alone: its final accuracies, not matrices
        peer_final = [sum(R[-1]) / len(R[-1]) for R in p["matrices"]] if "matrices" in p else p["acc"]
        gaps = [a - b for a, b in zip(data_final, peer_final)]
        lead = mlp[SYNTHETIC.name]["lead"][peer]
        assert lead["seeds"] == [0, 1] and lead["mean"] == pytest.approx(sum(gaps) / 2)
        assert lead["se"] == pytest.approx(abs(gaps[0] - gaps[1]) / 2)  # 2 pairs: sample std / sqrt(2) = |d0 - d1| / 2
        assert lead["mean"] == pytest.approx(mlp[SYNTHETIC.name]["acc_mean"] - mlp[peer]["acc_mean"])
    line = next(r for r in fast_cert.raw["reasons"] if r.startswith("mlp (generation)") and "vs GDumb-50" in r)
    assert f"(s.e. {mlp[SYNTHETIC.name]['lead']['GDumb-50']['se']:.3f}, 2 paired seeds)" in line


@pytest.mark.parametrize("rehearsal", [False, True], ids=["in-sequence", "rehearsed"])
def test_real_digits_with_one_hot_labels_are_not_certified(small_artifact, mnist5k, rehearsal):
    """Control: random real images of each task's classes, hard labels. In sequence the learner forgets; rehearsed
    (the recipe keeps them all, as GDumb's buffer does) they are only as good as the peers' own real images."""
    x, y = mnist5k.split("train")
    norm = small_artifact.metadata["source"]["normalisation"]
    g = torch.Generator().manual_seed(0)
    picks = torch.cat([torch.nonzero(y == c).flatten()[torch.randperm(350, generator=g)[:5]] for c in range(10)])
    cert = verify(_control(small_artifact, normalise(x[picks], norm), y[picks].clone(), rehearsal=rehearsal), CONTROL)
    assert cert.raw["verdict"] == NOT_CERTIFIED
    if not rehearsal:
        assert cert.raw["results"]["mlp"]["methods"][SYNTHETIC.name]["max_forgetting_mean"] > 0.5
        assert any("vs GDumb-50" in r and "FAILS" in r for r in cert.raw["reasons"]), cert.raw["reasons"]
    # random real images are exactly what the Random-50 peer trains: the lead over it is no margin
    assert any("vs Random-50" in r and "FAILS" in r for r in cert.raw["reasons"]), cert.raw["reasons"]


@pytest.mark.parametrize("rehearsal", [False, True], ids=["in-sequence", "rehearsed"])
def test_random_noise_is_not_certified(small_artifact, rehearsal):
    art = _control(
        small_artifact,
        torch.randn(50, 1, 28, 28, generator=torch.Generator().manual_seed(1)),
        small_artifact.labels.clone(),
        rehearsal=rehearsal,
    )
    cert = verify(art, CONTROL)
    assert cert.raw["verdict"] == NOT_CERTIFIED
    assert cert.raw["results"]["mlp"]["methods"][SYNTHETIC.name]["acc_mean"] < 0.6


def test_without_peers_or_joint_there_is_no_certificate(tiny_artifact):
    cert = verify(
        tiny_artifact,
        VerifyConfig(seeds=(0,), heldout=(), peers=False, memory_free=False, joint_epochs=1, **ONE),
    )
    assert cert.raw["verdict"] == NOT_CERTIFIED and any("peer Random-20 was not run" in r for r in cert.raw["reasons"])
    assert JOINT.name in cert.raw["results"]["mlp"]["methods"]
    cfg = VerifyConfig(seeds=(0,), heldout=(), peers=False, joint=False, memory_free=False)
    assert plan_lr_grid(tiny_artifact, cfg) == [] and {j.method for j in plan(tiny_artifact, cfg)} == {SYNTHETIC}
    one = VerifyConfig(seeds=(0,), heldout=(), memory_free=False, **ONE)  # nothing to choose on val
    assert plan_lr_grid(tiny_artifact, one) == []
    assert all(slot(Board("one")).split == "test" for slot in grid.slots(tiny_artifact, one))  # no tuning run
    assert {j.lr for j in plan(tiny_artifact, one)} >= {1e-3}
    cert = verify(tiny_artifact, cfg)
    assert cert.raw["verdict"] == NOT_CERTIFIED and any("joint bound was not run" in r for r in cert.raw["reasons"])


def test_peers_lr_and_epochs_are_chosen_on_validation(tiny_artifact):
    cfg = VerifyConfig(
        seeds=(0,), archs=("mlp",), heldout=(), memory_free=False, peer_lrs=(1e-5, 1e-3), joint_epochs=1,
        replay_epochs=(1, 3), replay_5n_epochs=(3, 5), gdumb_epochs=(1, 20), gdumb_shifted_epochs=(20,),
    )  # fmt: skip
    grid = plan_lr_grid(tiny_artifact, cfg)
    assert {(j.method.name, j.lr, j.setting, j.split) for j in grid} >= {
        ("GDumb-20", 1e-5, GDumbBudget(1), "val"), ("Replay-20", 1e-3, 1, "val"), (JOINT.name, 1e-3, None, "val")
    }  # fmt: skip
    assert "Replay-100" not in {j.method.name for j in grid}  # it trains as Replay-20 does
    cert = verify(tiny_artifact, cfg)
    record, results = cert.raw["protocol"]["peers"]["tuning"]["mlp"], cert.raw["results"]["mlp"]["methods"]
    for method in ("Replay-20", "GDumb-20", JOINT.name):
        scores = record[method]["val_acc"]
        first = " epochs=1" if method != JOINT.name else ""
        assert scores[f"lr=0.001{first}"] > scores[f"lr=1e-05{first}"]  # 1e-5 barely trains
        assert record[method]["lr"] == results[method]["lr"] == 1e-3
    gdumb = record["GDumb-20"]["val_acc"]  # one epoch over a 20-image buffer is one Adam step per task
    assert gdumb["lr=0.001 epochs=20"] > gdumb["lr=0.001 epochs=1"] + 0.1
    assert record["GDumb-20"]["epochs"] == results["GDumb-20"]["epochs"] == 20
    assert "lr=1e-05 epochs=20" not in gdumb  # the epochs are tried at the chosen lr only
    assert set(gdumb) == {"lr=1e-05 epochs=1", "lr=0.001 epochs=1", "lr=0.001 epochs=20", "lr=0.001 epochs=20 shift=2"}
    best = max(gdumb, key=gdumb.get)  # shifted or not, as validation says; the certificate records which
    assert (results["GDumb-20"].get("shift") == 2) == best.endswith("shift=2") and record["GDumb-20"].get("shift") == (
        2 if best.endswith("shift=2") else None
    )  # fmt: skip
    assert results["Replay-100"]["lr"] == record["Replay-20"]["lr"]  # Replay-5N: Replay-N's lr, its own epochs
    assert set(record["Replay-100"]["val_acc"]) == {"lr=0.001 epochs=3", "lr=0.001 epochs=5"}
    assert set(record["Replay-20"]["val_acc"]) == {"lr=1e-05 epochs=1", "lr=0.001 epochs=1", "lr=0.001 epochs=3"}


def test_reference_budgets_are_cut_to_the_task_size_and_the_certificate_records_the_cut(tiny_artifact):
    source = source_for(tiny_artifact)
    labels = source.split("train")[1]
    task = max(int(sum((labels == c).sum() for c in classes)) for classes in tiny_artifact.tasks)
    assert task == 700  # mnist-5k: 350 training images per class
    assert sized_for(VerifyConfig(), tiny_artifact, source) == VerifyConfig()  # mnist-5k trains the budgets as given
    cfg = VerifyConfig(replay_epochs=(1, 3), replay_5n_epochs=(3, 5), joint_epochs=4)
    two = sized_for(cfg.merged({"reference_images": 2 * task + 1}), tiny_artifact, source)
    assert (two.replay_epochs, two.replay_5n_epochs, two.joint_epochs) == ((1, 2), (2,), 2)
    one = sized_for(cfg.merged({"reference_images": task - 1}), tiny_artifact, source)  # never under one epoch
    assert (one.replay_epochs, one.replay_5n_epochs, one.joint_epochs) == ((1,), (1,), 1)
    uncut = cfg.merged({"reference_images": None})
    assert sized_for(uncut, tiny_artifact, source) == uncut
    quick = ONE | {"gdumb_epochs": (3,)}  # ONE's 2 Replay epochs, cut to 1 below
    run = VerifyConfig(seeds=(0,), archs=("mlp",), heldout=(), memory_free=False, reference_images=task, **quick)
    cert = verify(tiny_artifact, run)
    protocol, methods = cert.raw["protocol"], cert.raw["results"]["mlp"]["methods"]
    assert (protocol["peers"]["replay_epochs"], protocol["peers"]["replay_5n_epochs"]) == ([1], [1])
    assert protocol["peers"]["reference_images"] == task
    assert methods["Replay-20"]["epochs"] == methods["Replay-100"]["epochs"] == 1
    assert protocol["joint"]["epochs"] == 1


def test_jobs_decided_by_tuning_come_after_the_runs_they_read_and_choose_as_the_whole_tuning_does(tiny_artifact):
    cfg = VerifyConfig(
        seeds=(0, 1), archs=("mlp",), heldout=(), memory_free=True, peer_lrs=(1e-5, 1e-3), joint_epochs=1,
        replay_epochs=(1, 3), replay_5n_epochs=(3, 5), gdumb_epochs=(1, 20), gdumb_shifted_epochs=(20,),
    )  # fmt: skip
    board, ran = Board("test"), []
    for slot in grid.slots(tiny_artifact, cfg):  # in one process, in order: Board.read raises on a missing run
        job = slot(board)
        if job.split == "val":  # made-up scores: the lr 1e-3 and the largest setting win, but one method's 1e-5
            size = sum(job.setting) if isinstance(job.setting, GDumbBudget) else job.setting or 0
            score = job.lr * (1 + size) * (1e4 if job.method.name == "SI" and job.lr < 1e-4 else 1)
            board.post(job, score)
        ran.append(job)
    tried: dict = {}
    for job in (j for j in ran if j.split == "val"):
        tried.setdefault((job.arch, job.method.name), {})[job.lr, job.setting] = board.scores[
            job.arch, job.method.name, (job.lr, job.setting)
        ]
    chosen = grid.choose(tried, cfg)
    assert chosen["mlp", "Replay-20"] == (1e-3, 3) and chosen["mlp", "SI"][0] == 1e-5
    assert chosen["mlp", "GDumb-20"] == (1e-3, GDumbBudget(20, 2))  # a shifted budget, chosen like the others
    replay_100 = {(j.lr, j.setting) for j in ran if j.method.name == "Replay-100" and j.split == "val"}
    assert replay_100 == {(1e-3, 3), (1e-3, 5)}  # Replay-5N: Replay-N's lr, its own epochs grid
    test = [j for j in ran if j.split == "test"]
    assert sorted(test, key=repr) == sorted((j for j in plan(tiny_artifact, cfg, chosen) if not grid.yielded(j, cfg)),
                                            key=repr)  # fmt: skip
    assert {(j.method.name, j.seed) for j in plan(tiny_artifact, cfg, chosen) if grid.yielded(j, cfg)} == {
        ("GDumb-20", 0), ("Replay-20", 0), ("Replay-100", 0), ("EWC", 0), ("SI", 0), ("LwF", 0)
    }  # fmt: skip
    with pytest.raises(RuntimeError, match="have not run"):
        Board("empty").read("mlp", "GDumb-20", [(1e-3, GDumbBudget(1))])


def test_tuning_runs_yield_the_first_seeds_test_cells(tiny_artifact, mnist5k, monkeypatch):
    cfg = VerifyConfig(
        seeds=(0,), archs=("mlp",), heldout=(), memory_free=False, joint=False, peer_lrs=(1e-3,),
        replay_epochs=(1, 2), replay_5n_epochs=(1, 2), gdumb_epochs=(1,), gdumb_shifted_epochs=(5,),
    )  # fmt: skip
    computed, compute = [], grid.cell
    monkeypatch.setattr(grid, "cell", lambda job, *a, **k: computed.append(job) or compute(job, *a, **k))
    results = verify(tiny_artifact, cfg, cache=False).raw["results"]["mlp"]["methods"]
    tested = {j.method.name for j in computed if j.split == "test"}
    assert {"GDumb-20", "Replay-20", "Replay-100"}.isdisjoint(tested)  # every first-seed cell came from tuning
    peer = {m.name: m for m in alternatives(20)}
    budget = GDumbBudget(results["GDumb-20"]["epochs"], results["GDumb-20"].get("shift", 0))
    alone = run_job(Job("mlp", peer["GDumb-20"], 0, 1e-3, budget), tiny_artifact, mnist5k, cfg)
    assert results["GDumb-20"]["acc"] == [alone["acc"]]  # the same run, scored on test beside validation
    alone = run_job(Job("mlp", peer["Replay-20"], 0, 1e-3, results["Replay-20"]["epochs"]), tiny_artifact, mnist5k, cfg)
    assert results["Replay-20"]["matrices"] == [alone["R"]]


def test_the_joint_bound_takes_its_last_prefix_from_its_tuning_run(tiny_artifact, mnist5k, monkeypatch):
    cfg = VerifyConfig(
        seeds=(0,), archs=("mlp",), heldout=(), peers=False, memory_free=False, peer_lrs=(1e-5, 1e-3), joint_epochs=1
    )  # fmt: skip
    trained, train = [], runs.joint_accuracy  # the prefixes each call trains, and the splits it scores

    def spy(*a, **k):
        trained.append((list(k["steps"]), tuple(k.get("splits", ("test",)))))
        return train(*a, **k)

    monkeypatch.setattr(cells, "joint_accuracy", spy)
    joint = verify(tiny_artifact, cfg, cache=False).raw["results"]["mlp"]["methods"][JOINT.name]
    last = len(tiny_artifact.tasks) - 1
    assert sorted(trained) == sorted([([last], ("val", "test"))] * 2 + [(list(range(last)), ("test",))])
    untuned = dataclasses.replace(cfg, peer_lrs=(joint["lr"],))  # nothing to choose: the test cell trains every prefix
    alone = run_job(Job("mlp", JOINT, 0, joint["lr"]), tiny_artifact, mnist5k, untuned)
    assert joint["acc"] == [alone["acc"]] and joint["per_task_final"] == alone["per_task"]
    assert joint["seen_curve"] == [sum(row) / len(row) for row in alone["rows"]] and len(alone["rows"]) == last + 1
    assert [len(row) for row in alone["rows"]] == list(range(1, last + 2))  # prefix i: tasks 0..i


def test_cells_score_the_seen_tasks_and_tuning_reads_validation_once(tiny_artifact, mnist5k, monkeypatch):
    scored = []  # images of every forward pass that scores a model
    predict = consumer.predict
    monkeypatch.setattr(runs, "predict", lambda model, x: scored.append(len(x)) or predict(model, x))
    peer = {m.name: m for m in alternatives(20)}
    cell = run_job(Job("mlp", peer["Replay-20"], 0, 1e-3, 1, "val"), tiny_artifact, mnist5k, FAST)
    T, norm = len(tiny_artifact.tasks), tiny_artifact.metadata["source"]["normalisation"]
    assert [len(row) for row in cell["test"]["R"]] == list(range(1, T + 1))  # after task i: tasks 0..i
    val = sum(len(y) for _, y in runs.real_sets(mnist5k, tiny_artifact.tasks, norm, "val"))
    test = [len(y) for _, y in runs.real_sets(mnist5k, tiny_artifact.tasks, norm, "test")]
    assert sum(scored) == val + sum(sum(test[: i + 1]) for i in range(T))  # validation once, at the end
    scored.clear()  # GDumb: only the network after the last task is trained, scored once on each split
    cell = run_job(Job("mlp", peer["GDumb-20"], 0, 1e-3, 5, "val"), tiny_artifact, mnist5k, FAST)
    assert len(cell["test"]["per_task"]) == T and sum(scored) == val + sum(test)


def test_deterministic(tiny_artifact):
    cfg = VerifyConfig(seeds=(0,), heldout=(), memory_free=False, peers=False, joint_epochs=1)
    a, b = verify(tiny_artifact, cfg, cache=False), verify(tiny_artifact, cfg, cache=False)  # computed twice
    assert a.learners == b.learners and a.raw["results"] == b.raw["results"] and a.verdict == b.verdict


def test_memory_free_strategies_and_stress_in_the_same_run(tiny_artifact):
    """The tiny artifact is made without rehearsal: the memory-free strategies run by default, and are judged."""
    cfg = VerifyConfig(seeds=(0,), heldout=(), stress=True, peers=False, joint_epochs=1, peer_lrs=(1e-3,))
    cert = verify(tiny_artifact, cfg)
    methods = cert.raw["results"]["mlp"]["methods"]
    assert {m.name for m in MEMORY_FREE} <= set(methods) and "lr x2" in methods and "shuffled half batches" in methods
    assert cert.raw["protocol"]["scenarios"] == ["recipe", *(m.name for m in STRESS)]
    assert cert.raw["protocol"]["made_for"] == "no rehearsal"
    data = methods[SYNTHETIC.name]["acc_mean"]
    assert data > methods["Naive"]["acc_mean"] + 0.25 and data > methods["LwF"]["acc_mean"] + 0.25  # they forget
    # (over 2 tasks a tuned regulariser can keep the first one: one reached 0.935 here, level with the data)
    for name in ("EWC", "SI", "LwF"):
        assert any(r.startswith("mlp (generation)") and f"vs {name} " in r for r in cert.raw["reasons"])
    assert any("vs Naive" in r and "keeps nothing" in r for r in cert.raw["references"])
    joint_tasks = methods[JOINT.name]["per_task_final"]
    assert len(joint_tasks) == len(tiny_artifact.tasks) == len(methods[SYNTHETIC.name]["per_task_final"])
    assert min(joint_tasks) > 0.8 and min(joint_tasks) <= methods[JOINT.name]["acc_mean"] <= max(joint_tasks)
    assert methods[SYNTHETIC.name]["task_incremental_acc_mean"] >= methods[SYNTHETIC.name]["acc_mean"]


def test_default_heldout_is_three_unused_families_with_batchnorm_and_max_pooling(tiny_artifact):
    from synthgen.nn.learners import ZOO, build_learner, has_batchnorm

    held = default_heldout(["mlp", "convnet"])
    families = {ZOO[a].family for a in held}
    assert len(held) >= 3 and len(families) == len(held) and not families & {"mlp", "convnet"}
    models = [build_learner(a, (1, 28, 28), 10, 0) for a in held]
    assert any(has_batchnorm(m) for m in models)
    assert any(isinstance(layer, torch.nn.MaxPool2d) for m in models for layer in m.modules())
    cfg = VerifyConfig(seeds=(0, 1, 2), stress=True, reference_seeds=2, joint_seeds=1, memory_free=True)
    jobs = plan(tiny_artifact, cfg)
    assert {j.arch for j in jobs} == {"mlp", *default_heldout(["mlp"])}
    # every seed: synthetic, stress, judged peers; the first reference_seeds (2): Replay x2, memory-free; the first
    # joint_seeds (1): the joint bound
    assert len(jobs) == 4 * (3 * (1 + 5 + 3) + 2 * (2 + 4) + 1)
    assert {j.seed for j in jobs if j.method in MEMORY_FREE or j.method.name == "Replay-20"} == {0, 1}
    assert {j.seed for j in jobs if j.method is JOINT} == {0}
    assert {j.seed for j in jobs if j.method.name == "GDumb-20"} == {0, 1, 2}


def test_the_feature_networks_family_is_not_held_out(tiny_artifact):
    """Data shaped by random ``feature_arch`` bodies has seen that family: the default held-out set skips it."""
    meta = copy.deepcopy(tiny_artifact.metadata)
    meta["generation"]["config"].update(feature_weight=0.3, feature_arch="cnn_s")
    art = dataclasses.replace(tiny_artifact, metadata=meta)
    assert "cnn" in default_heldout(["mlp"])
    assert feature_archs(art) == ["cnn_s"]
    held = [a for a, g in arch_groups(art, VerifyConfig()).items() if g == "heldout"]
    assert len(held) == 3 and "cnn" not in held and "cnn_bn" in held
    for weight in (0.0, "0.3", None):  # off, or a malformed record: nothing to skip
        meta["generation"]["config"]["feature_weight"] = weight
        assert feature_archs(art) == [] and "cnn" in arch_groups(art, VerifyConfig())
    meta["generation"]["config"]["init"] = "dm"  # a start matched under random ConvNet-3s
    assert feature_archs(art) == ["convnet3_s"]
    held = [a for a, g in arch_groups(art, VerifyConfig()).items() if g == "heldout"]
    assert len(held) == 3 and "convnet3_s" not in held and {"cnn", "cnn_bn"} <= set(held)


def test_edited_certificate_detected(fast_cert):
    forged = dict(fast_cert.raw, verdict=NOT_CERTIFIED)
    with pytest.raises(CertificateError, match="edited"):
        validate_certificate(forged)


def test_wrong_split_refused(tiny_artifact):
    from synthgen.data.sources import SourceError

    meta = copy.deepcopy(tiny_artifact.metadata)
    meta["source"]["split"]["test_index_sha256"] = "0" * 16
    art = Artifact(tiny_artifact.images, tiny_artifact.labels, tiny_artifact.task_ids, meta, tiny_artifact.soft_labels)
    with pytest.raises(SourceError, match="different test split"):
        verify(art, FAST)


def test_chunked_prediction_equals_one_pass():
    from synthgen.nn.consumer import EVAL_CHUNK, predict
    from synthgen.nn.learners import build_learner

    model = build_learner("convnet", (1, 28, 28), 10, seed=0)
    x = torch.randn(EVAL_CHUNK * 2 + 7, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(predict(model, x), model(x), atol=1e-5)


def test_joint_per_task_follows_the_scenario(mnist5k):
    """The joint bound is measured in the sequence's scenario: task-incremental masks each image's logits to its
    task's classes, which can only help; the overall figure is the per-task figures weighted by test images."""
    from synthgen.verification.runs import RealStream, joint_accuracy

    tasks, norm = [(3, 5), (4, 9)], mnist5k.normalisation()  # pairs that a 10-way head confuses with others
    ci = joint_accuracy(RealStream(mnist5k, tasks, norm), "mlp", 0, epochs=1)["test"]
    ti = joint_accuracy(RealStream(mnist5k, tasks, norm, "task-incremental"), "mlp", 0, epochs=1)["test"]
    assert all(t >= c for t, c in zip(ti.per_task, ci.per_task)) and ti.per_task != ci.per_task and ti.acc > ci.acc
    sizes = [int(torch.isin(mnist5k.split("test")[1], torch.tensor(t)).sum()) for t in tasks]
    for run in (ci, ti):
        assert run.acc == pytest.approx(sum(a * n for a, n in zip(run.per_task, sizes)) / sum(sizes))
    curve = seen_accuracy(ci.rows)  # the accuracy on the tasks seen so far after each prefix
    assert curve[0] > 0.85 and curve[-1] == pytest.approx(sum(ci.per_task) / 2)
