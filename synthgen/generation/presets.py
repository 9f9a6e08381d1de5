"""Named configs shipped with synthgen (``synthgen/generation/presets/*.json``): ``--preset NAME``.

A preset sits between the defaults and what the user gives: ``--config FILE`` and every flag win over
it. A recipe without rehearsal (``--no-rehearsal``) gets the ``no-rehearsal`` preset unless another
preset is named: the defaults are tuned for rehearsal, the preset for data learned with no memory.
"""

from __future__ import annotations

from pathlib import Path

from synthgen.core.config import ConfigError
from synthgen.core.io import read_json
from synthgen.generation.config import GenerateConfig

PRESET_DIR = Path(__file__).parent / "presets"
NO_REHEARSAL = "no-rehearsal"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def preset(name: str) -> dict:
    """The fields preset ``name`` sets (a nested dict, as in a ``--config`` file)."""
    if name not in preset_names():
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(preset_names())}", ("preset",))
    return read_json(PRESET_DIR / f"{name}.json", ConfigError, f"preset {name} is missing")


def applied(name: str | None, cfg: GenerateConfig) -> str | None:
    """The preset a config built by :func:`generate_config` with ``name`` got (None: the defaults)."""
    return name if name is not None else None if cfg.rehearsal else NO_REHEARSAL


def generate_config(
    path: str | Path | None = None, overrides: dict | None = None, name: str | None = None
) -> GenerateConfig:
    """The GenerateConfig of: the defaults, then preset ``name`` (or ``no-rehearsal`` for a recipe without
    rehearsal), then the JSON file at ``path``, then ``overrides``."""
    given = {} if path is None else read_json(path, ConfigError, f"{path}: no such config file")
    if not isinstance(given, dict):
        raise ConfigError(f"{path}: a config file holds a JSON object")
    user = GenerateConfig().merged(given).merged(overrides or {})  # validates what the user gave on its own
    name = applied(name, user)
    return user if name is None else GenerateConfig().merged(preset(name)).merged(given).merged(overrides or {})
