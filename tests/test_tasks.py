import pytest

from synthgen.data.tasks import Task, TaskSplitError, format_split, split_classes, split_mnist

NAMES = [str(i) for i in range(10)]


def test_split_mnist_default():
    tasks = split_mnist()
    assert tasks == [Task(0, (0, 1)), Task(1, (2, 3)), Task(2, (4, 5)), Task(3, (6, 7)), Task(4, (8, 9))]
    assert format_split(tasks) == "0,1/2,3/4,5/6,7/8,9"


def test_any_split_and_class_names():
    assert split_classes("3,8/5,6", NAMES) == [Task(0, (3, 8)), Task(1, (5, 6))]
    assert split_classes("cat,dog/ship", ["cat", "dog", "ship"]) == [Task(0, (0, 1)), Task(1, (2,))]


@pytest.mark.parametrize(
    "spec,msg",
    [
        ("0,1/2,12", "unknown class"),
        ("0,1/1,2", "twice"),
        ("0,1//2", "empty"),
        ("", "empty"),
        ("0,x", "unknown class"),
        ("-1,2", "unknown class"),
    ],
)
def test_bad_splits(spec, msg):
    with pytest.raises(TaskSplitError, match=msg):
        split_classes(spec, NAMES)
