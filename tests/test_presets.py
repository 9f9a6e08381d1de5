"""`--preset NAME`: configs shipped in the package, under --config and every flag."""

import json

import pytest
from typer.testing import CliRunner

from synthgen.cli.main import app
from synthgen.core.config import ConfigError
from synthgen.generation.config import GenerateConfig
from synthgen.generation.presets import NO_REHEARSAL, generate_config, preset, preset_names

runner = CliRunner()


def test_every_shipped_preset_is_a_valid_partial_config_and_changes_something():
    assert {"fashion-mnist", NO_REHEARSAL} <= set(preset_names())
    for name in preset_names():
        cfg = generate_config(name=name)
        assert cfg != GenerateConfig() and cfg == GenerateConfig().merged(preset(name))


def test_a_preset_sits_under_the_config_file_and_the_flags(tmp_path):
    fm = preset("fashion-mnist")
    assert generate_config(name="fashion-mnist").source.name == "fashion-mnist"
    (tmp_path / "c.json").write_text(json.dumps({"ipc": 3, "source": {"split_seed": 4}}))
    cfg = generate_config(tmp_path / "c.json", {"seed": 9}, "fashion-mnist")
    assert (cfg.ipc, cfg.source.split_seed, cfg.seed, cfg.source.name) == (3, 4, 9, fm["source"]["name"])
    assert generate_config(None, {"source": {"name": "digits"}}, "fashion-mnist").source.name == "digits"


def test_no_rehearsal_gets_its_own_preset_unless_another_is_named():
    seq = generate_config(overrides={"rehearsal": False})
    assert seq == GenerateConfig().merged(preset(NO_REHEARSAL))
    default = GenerateConfig()  # the consumer's steps per task are the default's, all of them unrolled
    assert (seq.inner_steps, seq.recipe_step_scale) == (default.inner_steps * default.recipe_step_scale, 1)
    # its pool adds an instance-norm network to the default's; ConvNet-3, instance-normed too, stays held out
    assert seq.learners.archs == (*default.learners.archs, "convnet_in") and "convnet3_s" not in seq.learners.archs
    assert generate_config(overrides={"rehearsal": False}, name="fashion-mnist") == GenerateConfig().merged(
        {**preset("fashion-mnist"), "rehearsal": False}
    )
    assert generate_config() == GenerateConfig()  # the rehearsal default is untouched


def test_an_unknown_preset_is_one_line_naming_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset 'cifar'; known: fashion-mnist"):
        generate_config(name="cifar")
    res = runner.invoke(app, ["generate", "--preset", "cifar", "--out", str(tmp_path / "x.safetensors")])
    assert res.exit_code == 2 and "unknown preset 'cifar'" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.safetensors").exists()
