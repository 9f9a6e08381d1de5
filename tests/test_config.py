import pytest

from synthgen.config import ConfigError, GenerateConfig, SourceConfig, TaskConfig


def test_round_trip_and_hash_stable():
    cfg = GenerateConfig(ipc=3, tasks=TaskConfig(split="0,1/2,3"))
    again = GenerateConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.config_hash() == cfg.config_hash()
    assert GenerateConfig(ipc=4).config_hash() != cfg.config_hash()


def test_unknown_keys_rejected_at_every_level():
    with pytest.raises(ConfigError, match="unknown key"):
        GenerateConfig.from_dict({"ipcs": 3})
    with pytest.raises(ConfigError, match="SourceConfig: unknown key"):
        GenerateConfig.from_dict({"source": {"nam": "digits"}})


@pytest.mark.parametrize("kwargs", [{"ipc": 0}, {"param": "gan"}, {"inner_lr": -1.0}, {"steps": -1},
                                    {"time_budget": 0.0}, {"init": "zeros"}])
def test_invalid_values(kwargs):
    with pytest.raises(ConfigError):
        GenerateConfig(**kwargs)


def test_source_and_task_validation():
    with pytest.raises(ConfigError):
        SourceConfig(val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ConfigError):
        TaskConfig(scenario="domain-incremental")


def test_run_hash_ignores_device_and_io_schedule():
    a = GenerateConfig(device="cpu", checkpoint_every=5)
    b = GenerateConfig(device="cuda", checkpoint_every=50)
    assert a.run_hash() == b.run_hash()
    assert a.run_hash() != GenerateConfig(seed=1).run_hash()
