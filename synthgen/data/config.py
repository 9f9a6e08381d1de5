"""Where the real data comes from and how it is cut into tasks."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from synthgen.core.config import ConfigBase, ConfigError, Fraction, Seed, config


@config
class SourceConfig(ConfigBase):
    name: Annotated[str, Field(min_length=1)] = (
        "mnist-5k"  # mnist-5k | digits | mnist | fashion-mnist | kmnist | cifar10 | hf:<name> | imagefolder:<path>
    )
    val_fraction: Fraction = 0.1  # per class, carved from the training pool (outer-loop monitoring, peers' lr)
    test_fraction: Fraction = 0.2  # per class; used only when the source has no official test split
    split_seed: Seed = 0  # seeds the per-class shuffle behind the split (recorded in the artifact)
    data_dir: str | None = None  # the source's files (mnist / fashion-mnist idx files), or the download folder for
    # online sources (default: the Debian package's folder, else ~/.cache/synthgen)
    image_column: str = "image"  # hf: sources only
    label_column: str = "label"  # hf: sources only

    def __post_init__(self) -> None:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError("source.val_fraction + source.test_fraction must be < 1")


@config
class TaskConfig(ConfigBase):
    split: Annotated[str, Field(min_length=1)] = "0,1/2,3/4,5/6,7/8,9"  # tasks by '/', class ids or names by ','
    scenario: Literal["class-incremental", "task-incremental"] = "class-incremental"
