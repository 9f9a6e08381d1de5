"""Frozen, typed, validated configuration for every stage. One block of defaults, every field commented.

Each config is a pydantic dataclass in strict mode: a field gets exactly its type (no "3" for an
int, no "no" for a bool) within its range, in the constructor and in :meth:`from_dict` alike, and
any violation is one :class:`ConfigError` line naming the field. The defaults are the best
settings measured on the embedded ``mnist-5k`` source (docs/research.md), not the smallest ones.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from typing import Annotated, Any, TypeVar

import pydantic
from pydantic import ConfigDict, Field

from synthgen.core.errors import SynthgenError

T = TypeVar("T")


Positive = Annotated[int, Field(ge=1)]


NonNegative = Annotated[int, Field(ge=0)]


PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


LearningRate = Annotated[float, Field(ge=1e-10, le=10.0, allow_inf_nan=False)]  # below 1e-10 nothing trains, and a


Fraction = Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)]


Seed = Annotated[int, Field(ge=0, lt=2**63)]


class ConfigError(SynthgenError, ValueError):
    """A configuration value or key is invalid; ``fields`` names the offending fields (dotted paths)."""

    def __init__(self, message: str, fields: tuple[str, ...] = ()):
        super().__init__(message)
        self.fields = fields


def _short(value: object, most: int = 60) -> str:
    """``repr(value)``, cut to ``most`` characters (a million seeds is not shown back in full)."""
    text = repr(value)
    return text if len(text) <= most else text[: most - 3] + "..."


def _one_line(cls: type, err: pydantic.ValidationError) -> ConfigError:
    parts, fields = [], []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"])  # empty: a check across fields (__post_init__)
        if where:
            fields.append(where)
        shown = "input" in e and not isinstance(e["input"], dict) and type(e["input"]).__name__ != "ArgsKwargs"
        got = f" (got {_short(e['input'])})" if shown else ""
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "unexpected_keyword_argument":
            msg = f"unknown key; known: {', '.join(f.name for f in dataclasses.fields(cls))}"
        parts.append(f"{where}: {msg}{got}" if where else msg)
    return ConfigError(f"{cls.__name__}: " + "; ".join(parts), tuple(fields))


def config(cls: type[T]) -> type[T]:
    """A frozen, strict pydantic dataclass whose validation errors are one-line ConfigErrors."""
    cls = pydantic.dataclasses.dataclass(frozen=True, config=ConfigDict(strict=True, extra="forbid"))(cls)
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except pydantic.ValidationError as err:
            raise _one_line(cls, err) from None

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


class ConfigBase:
    """Mixin: dict round trip (JSON lists become tuples, nested dicts nested configs) and a stable hash."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Build from a plain dict; unknown keys and wrong types are a ConfigError."""
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
        kwargs = {}
        nested = {
            f.name: f.default_factory
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if isinstance(f.default_factory, type) and issubclass(f.default_factory, ConfigBase)
        }
        for name, value in data.items():
            sub = nested.get(name)
            if sub is not None and isinstance(value, dict):
                try:
                    value = sub.from_dict(value)
                except ConfigError as err:
                    raise ConfigError(
                        f"{cls.__name__}.{name} -> {err}", tuple(f"{name}.{f}" for f in err.fields)
                    ) from None
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))  # type: ignore[call-overload]

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict` (first 16 hex digits)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def merged(self, overrides: dict[str, Any]):
        """A copy with ``overrides`` (a flat or nested dict, as in :meth:`from_dict`) applied on top."""
        base = self.to_dict()
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = {**base[key], **value}
            else:
                base[key] = value
        return type(self).from_dict(base)
