"""The stage plan: one stage per task, later tasks get more of the steps or of the time budget."""

import pytest

from synthgen.generation.config import GenerateConfig
from synthgen.generation.stages import plan_stages


def test_later_tasks_get_more_steps():
    stages = plan_stages(GenerateConfig(steps=1000), 5)
    assert [s.task for s in stages] == [0, 1, 2, 3, 4]
    assert [s.steps for s in stages] == [67, 133, 200, 267, 333]
    assert all(s.seconds is None for s in stages)
    assert [s.steps for s in plan_stages(GenerateConfig(steps=0), 3)] == [0, 0, 0]


def test_a_time_budget_is_shared_by_the_same_weights():
    stages = plan_stages(GenerateConfig(steps=300, time_budget=120.0), 2)
    assert [s.seconds for s in stages] == pytest.approx([40.0, 80.0])
    st = stages[1]
    assert st.progress(0, st.seconds / 4) == pytest.approx(0.25)
    assert not st.done(10**6, st.seconds * 0.99) and st.done(0, st.seconds)
    empty = plan_stages(GenerateConfig(steps=0, time_budget=10.0), 2)  # no steps: the budget alone stops each stage
    assert [s.seconds for s in empty] == pytest.approx([10 / 3, 20 / 3])


def test_progress_by_steps():
    st = plan_stages(GenerateConfig(steps=30), 2)[1]  # 20 steps
    assert st.steps == 20
    assert st.progress(5, 1e9) == pytest.approx(0.25)
    assert not st.done(19, 1e9) and st.done(20, 0.0)


def test_a_refine_stage_follows_the_task_stages_and_costs_as_many_steps_as_tasks():
    stages = plan_stages(GenerateConfig(steps=300, refine_steps=20, time_budget=120.0), 2)
    assert [(s.tasks, s.steps) for s in stages] == [((0,), 100), ((1,), 200), ((0, 1), 20)]
    assert stages[-1].refine and not stages[0].refine
    assert [s.seconds for s in stages] == pytest.approx([120 * w / 340 for w in (100, 200, 40)])
