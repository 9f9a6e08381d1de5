"""The stage plan and the outer-lr schedule: pure functions of the config and the stage's progress."""
import pytest

from synthgen.config import GenerateConfig
from synthgen.stages import outer_lr_factor, plan_stages, stage_done, stage_progress


def test_later_tasks_get_more_steps_and_the_refine_stage_comes_last():
    stages = plan_stages(GenerateConfig(steps=1000, refine_steps=250), 5)
    assert [s["trainable"] for s in stages] == [[0], [1], [2], [3], [4], [0, 1, 2, 3, 4]]
    assert [s["steps"] for s in stages] == [67, 133, 200, 267, 333, 250]  # weights 1..5 of 15
    assert stages[-1].get("keep_lr") and not any(s.get("keep_lr") for s in stages[:-1])
    assert all(s["seconds"] is None for s in stages)
    assert len(plan_stages(GenerateConfig(steps=30, refine_steps=0), 2)) == 2


def test_a_time_budget_is_shared_by_work_steps_times_tasks():
    stages = plan_stages(GenerateConfig(steps=300, refine_steps=100, time_budget=120.0), 2)
    secs = [s["seconds"] for s in stages]
    assert sum(secs) == pytest.approx(120.0)
    # work: 100 x 1, 200 x 1, then 100 refine steps x 2 tasks = 500
    assert secs == pytest.approx([24.0, 48.0, 48.0])
    default = plan_stages(GenerateConfig(steps=1000, refine_steps=250, time_budget=180.0), 5)
    assert default[-1]["seconds"] == pytest.approx(180.0 * 1250 / 2250)  # 250 x 5 of 1000 + 1250
    empty = plan_stages(GenerateConfig(steps=0, refine_steps=0, time_budget=10.0), 2)  # weights 1 and 2 share it
    assert [s["seconds"] for s in empty] == pytest.approx([10 / 3, 20 / 3])
    assert [s["steps"] for s in plan_stages(GenerateConfig(steps=0, refine_steps=0), 3)] == [0, 0, 0]
    st = stages[0]
    assert stage_progress(st, 0, st["seconds"] / 4) == pytest.approx(0.25)
    assert not stage_done(st, 10**6, st["seconds"] * 0.99) and stage_done(st, 0, st["seconds"])


def test_progress_and_done_count_steps_without_a_budget():
    st = plan_stages(GenerateConfig(steps=30, refine_steps=0), 2)[1]  # 20 steps
    assert stage_progress(st, 5, 1e9) == pytest.approx(0.25)
    assert not stage_done(st, 19, 1e9) and stage_done(st, 20, 0.0)


def test_outer_lr_factor():
    assert outer_lr_factor("constant", 0.7) == 1.0
    assert outer_lr_factor("cosine", 0.0) == pytest.approx(1.0)
    assert outer_lr_factor("cosine", 0.5) == pytest.approx(0.5)
    assert outer_lr_factor("cosine", 1.0) == pytest.approx(0.0, abs=1e-12)
    assert outer_lr_factor("cosine", 1.7) == pytest.approx(0.0, abs=1e-12)  # a time budget can overrun
