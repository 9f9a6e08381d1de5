import pytest

from synthgen.core.io import atomic_write, safe_relpath


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "f.bin"
    atomic_write(p, b"one")
    atomic_write(p, b"two")
    assert p.read_bytes() == b"two"
    assert [x.name for x in tmp_path.iterdir()] == ["f.bin"]


def test_failed_write_keeps_previous_file(tmp_path):
    p = tmp_path / "f.bin"
    atomic_write(p, b"good")

    def boom(tmp):
        tmp.write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write(p, boom)
    assert p.read_bytes() == b"good"
    assert [x.name for x in tmp_path.iterdir()] == ["f.bin"]


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "/etc/passwd",
        "a/../../b",
        "C:/x",
        "C:x",
        "\\\\server\\share",
        "//server/share",
        "a\\b",
        "",
        "a//b",
        "a\x00b",
    ],
)
def test_unsafe_paths(name):
    with pytest.raises(ValueError):
        safe_relpath(name)


@pytest.mark.parametrize("name", ["README.md", "data/task_0/train-00000.parquet", "synthgen.json"])
def test_safe_paths(name):
    assert safe_relpath(name) == name


def test_written_files_get_normal_permissions(tmp_path):
    import os
    import stat

    p = atomic_write(tmp_path / "f.bin", b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask
