import pytest

from synthgen.core.config import ConfigError
from synthgen.data.config import SourceConfig, TaskConfig
from synthgen.generation.config import GenerateConfig


def test_round_trip_and_hash_stable():
    cfg = GenerateConfig(ipc=3, tasks=TaskConfig(split="0,1/2,3"))
    again = GenerateConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.config_hash() == cfg.config_hash()
    assert GenerateConfig(ipc=4).config_hash() != cfg.config_hash()


def test_unknown_keys_rejected_at_every_level():
    with pytest.raises(ConfigError, match="ipcs: unknown key; known: source, tasks") as err:
        GenerateConfig.from_dict({"ipcs": 3})
    assert err.value.fields == ("ipcs",)
    with pytest.raises(ConfigError, match="SourceConfig: nam: unknown key") as err:
        GenerateConfig.from_dict({"source": {"nam": "digits"}})
    assert err.value.fields == ("source.nam",)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ipc": 0},
        {"param": "gan"},
        {"inner_lr": -1.0},
        {"inner_lr": 7e-186},
        {"steps": -1},
        {"time_budget": 0.0},
        {"init": "zeros"},
    ],
)
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


def test_wrong_types_are_refused_in_from_dict_and_the_constructor():
    """Strict types: no string for an int, no string for a bool, no float for an int; every field is named."""
    with pytest.raises(
        ConfigError,
        match="ipc: Input should be a valid integer.*soft_labels: Input should be a valid "
        "boolean.*seed: Input should be a valid integer",
    ) as err:
        GenerateConfig.from_dict({"ipc": "3", "soft_labels": "no", "seed": 1.5})
    assert err.value.fields == ("ipc", "soft_labels", "seed")
    with pytest.raises(ConfigError, match="ipc"):
        GenerateConfig(ipc="3")
    with pytest.raises(ConfigError, match="archs"):
        GenerateConfig.from_dict({"learners": {"archs": "mlp"}})
    assert GenerateConfig.from_dict({"inner_lr": 1}).inner_lr == 1.0  # an int is a fine float


def test_merged_applies_overrides_on_top():
    from synthgen.verification.config import VerifyConfig

    cfg = GenerateConfig(ipc=3).merged({"seed": 7, "source": {"name": "digits"}})
    assert (cfg.ipc, cfg.seed, cfg.source.name, cfg.source.val_fraction) == (3, 7, "digits", 0.1)
    assert VerifyConfig().merged({"seeds": [1, 2]}).seeds == (1, 2)
    with pytest.raises(ConfigError, match="seeds repeat"):
        VerifyConfig(seeds=(1, 1))
