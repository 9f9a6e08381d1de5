"""Pure functions on an accuracy matrix R, where R[i][j] is the accuracy on task j's real test
data after training through task i (rows: after task i; columns: evaluated task j).

Every metric reads only the lower triangle (j <= i: the tasks seen so far), so R may hold just that:
row i with the i + 1 entries of tasks 0..i (the verifier's matrices), or a square matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

Matrix = Sequence[Sequence[float]]


def _check(R: Matrix) -> int:
    T = len(R)
    if T == 0 or len(R[-1]) != T or any(len(row) < i + 1 or len(row) > T for i, row in enumerate(R)):
        raise ValueError("accuracy matrix must be non-empty, row i holding tasks 0..i (lower triangle) or all tasks")
    return T


def average_accuracy(R: Matrix) -> float:
    """ACC = mean_j R[T-1][j]: accuracy over all tasks after the last one."""
    T = _check(R)
    return sum(R[T - 1]) / T


def backward_transfer(R: Matrix) -> float:
    """BWT = mean_{j<T-1} (R[T-1][j] - R[j][j]); 0 for a single task. Negative = forgetting."""
    T = _check(R)
    if T == 1:
        return 0.0
    return sum(R[T - 1][j] - R[j][j] for j in range(T - 1)) / (T - 1)


def forgetting(R: Matrix) -> list[float]:
    """Forgetting of task j (j < T-1) = max_{i<T-1} R[i][j] - R[T-1][j]."""
    T = _check(R)
    return [max(R[i][j] for i in range(j, T - 1)) - R[T - 1][j] for j in range(T - 1)]


def max_forgetting(R: Matrix) -> float:
    """Largest forgetting over tasks (0 for a single task)."""
    f = forgetting(R)
    return max(f) if f else 0.0


def forgetting_beyond(R: Matrix, reference: Sequence[float]) -> float:
    """Largest forgetting over tasks beyond a reference's forgetting of the same task (``reference[j]``, e.g. the
    joint bound's: class-incremental confusion among classes learned apart, which joint training shows too);
    0 for a single task. Where the reference gains on a task (negative forgetting: more data, more steps), it
    counts as 0, so the figure is never above the max forgetting itself."""
    f = forgetting(R)
    if len(reference) != len(f):
        raise ValueError(f"reference forgetting has {len(reference)} tasks, the matrix {len(f)}")
    return max(a - max(b, 0.0) for a, b in zip(f, reference)) if f else 0.0


def seen_accuracy(R: Matrix) -> list[float]:
    """After each task i: mean accuracy over tasks 0..i (the curve of the paper's Fig. 1)."""
    T = _check(R)
    return [sum(R[i][: i + 1]) / (i + 1) for i in range(T)]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation."""
    if not values:
        raise ValueError("no values")
    m = sum(values) / len(values)
    return m, (sum((v - m) ** 2 for v in values) / len(values)) ** 0.5


def paired_difference(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Mean of ``a[k] - b[k]`` over paired runs (the same seeds, the same initial weights) and its standard error:
    the sample standard deviation of the differences over sqrt(n); 0.0 for a single pair."""
    if len(a) != len(b) or not a:
        raise ValueError("paired values must be non-empty and of the same length")
    d = [x - y for x, y in zip(a, b)]
    m = sum(d) / len(d)
    if len(d) == 1:
        return m, 0.0
    return m, (sum((v - m) ** 2 for v in d) / (len(d) - 1) / len(d)) ** 0.5


def average_incremental_accuracy(R: Matrix) -> float:
    """Mean over steps of the accuracy on the tasks seen so far (Rebuffi et al.'s average incremental accuracy)."""
    curve = seen_accuracy(R)
    return sum(curve) / len(curve)


def min_seen_accuracy(R: Matrix) -> float:
    """The worst step: the lowest accuracy on the tasks seen so far over the sequence."""
    return min(seen_accuracy(R))


def step_ratios(curve: Sequence[float], bound: Sequence[float]) -> list[float]:
    """Each step's seen-tasks accuracy as a fraction of an upper bound's at the same step
    (e.g. joint training on the tasks seen so far)."""
    if len(curve) != len(bound) or not curve:
        raise ValueError("curve and bound must be non-empty and of the same length")
    return [c / b if b > 0 else 0.0 for c, b in zip(curve, bound)]
