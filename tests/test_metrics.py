import pytest

from synthgen.verification import metrics

# Hand-computed example: 3 tasks.
R = [[0.9, 0.0, 0.0], [0.5, 0.8, 0.0], [0.3, 0.6, 1.0]]


def test_average_accuracy():
    assert metrics.average_accuracy(R) == pytest.approx((0.3 + 0.6 + 1.0) / 3)


def test_backward_transfer():
    assert metrics.backward_transfer(R) == pytest.approx(((0.3 - 0.9) + (0.6 - 0.8)) / 2)


def test_forgetting_uses_the_best_earlier_accuracy():
    # task 0: max(0.9, 0.5) - 0.3 = 0.6 ; task 1: max(0.8) - 0.6 = 0.2
    assert metrics.forgetting(R) == pytest.approx([0.6, 0.2])
    assert metrics.max_forgetting(R) == pytest.approx(0.6)


def test_forgetting_beyond_a_reference_is_the_largest_excess_per_task():
    # forgetting [0.6, 0.2]; a reference that forgets task 0 by 0.5 and task 1 by 0.0: excess [0.1, 0.2]
    assert metrics.forgetting_beyond(R, [0.5, 0.0]) == pytest.approx(0.2)
    assert metrics.forgetting_beyond(R, [0.0, 0.0]) == pytest.approx(metrics.max_forgetting(R))
    # a reference that gains on task 1 (-0.3) does not make the bound stricter than the max forgetting
    assert metrics.forgetting_beyond(R, [0.5, -0.3]) == pytest.approx(0.2)
    assert metrics.forgetting_beyond([[0.7]], []) == 0.0
    with pytest.raises(ValueError, match="reference forgetting has 1 tasks, the matrix 2"):
        metrics.forgetting_beyond(R, [0.5])


def test_seen_accuracy_curve():
    assert metrics.seen_accuracy(R) == pytest.approx([0.9, 0.65, (0.3 + 0.6 + 1.0) / 3])


def test_single_task_and_no_forgetting():
    assert metrics.backward_transfer([[0.7]]) == 0.0
    assert metrics.max_forgetting([[0.7]]) == 0.0
    assert metrics.max_forgetting([[0.5, 0.0], [0.6, 0.9]]) == pytest.approx(-0.1)


def test_bad_matrix_rejected():
    with pytest.raises(ValueError):
        metrics.average_accuracy([[0.1, 0.2]])
    with pytest.raises(ValueError):
        metrics.mean_std([])


def test_mean_std():
    assert metrics.mean_std([1.0, 3.0]) == pytest.approx((2.0, 1.0))


def test_average_incremental_accuracy_is_the_mean_of_the_seen_curve():
    # seen curve [0.9, 0.65, 0.6333]: (0.9 + 0.65 + 0.63333) / 3
    assert metrics.average_incremental_accuracy(R) == pytest.approx((0.9 + 0.65 + 1.9 / 3) / 3)


def test_min_seen_accuracy_is_the_worst_step():
    assert metrics.min_seen_accuracy(R) == pytest.approx(1.9 / 3)
    dip = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.9, 0.9, 0.9]]  # a mid-sequence dip the final figure hides
    assert metrics.min_seen_accuracy(dip) == pytest.approx(0.5) and metrics.average_accuracy(dip) == pytest.approx(0.9)


def test_step_ratios_to_an_upper_bound():
    assert metrics.step_ratios([0.9, 0.6], [1.0, 0.8]) == pytest.approx([0.9, 0.75])
    assert metrics.step_ratios([0.5], [0.0]) == [0.0]
    with pytest.raises(ValueError):
        metrics.step_ratios([0.9], [1.0, 0.8])


def test_paired_difference_mean_and_standard_error():
    # differences 0.02, 0.04, 0.00: mean 0.02, sample std 0.02, standard error 0.02 / sqrt(3)
    assert metrics.paired_difference([0.92, 0.94, 0.90], [0.90, 0.90, 0.90]) == pytest.approx((0.02, 0.02 / 3**0.5))
    # pairing matters: the same values unpaired would spread far more than the constant difference
    assert metrics.paired_difference([0.80, 0.95], [0.78, 0.93]) == pytest.approx((0.02, 0.0))
    assert metrics.paired_difference([0.9], [0.8]) == pytest.approx((0.1, 0.0))
    with pytest.raises(ValueError):
        metrics.paired_difference([0.9, 0.8], [0.8])


def test_the_lower_triangle_alone_gives_every_metric():
    lower = [row[: i + 1] for i, row in enumerate(R)]  # what the verifier scores: the tasks seen so far
    for fn in (metrics.average_accuracy, metrics.backward_transfer, metrics.max_forgetting, metrics.min_seen_accuracy,
               metrics.average_incremental_accuracy):  # fmt: skip
        assert fn(lower) == pytest.approx(fn(R))
    with pytest.raises(ValueError):
        metrics.average_accuracy([[0.9], [0.5]])  # the last row must cover every task
    with pytest.raises(ValueError):
        metrics.average_accuracy([[], [0.5, 0.8]])  # row i must cover tasks 0..i
