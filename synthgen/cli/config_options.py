"""Command-line options made from a config class: one option per field, typed by the field, defaulting to "not given".

A command declares which fields it exposes (a dotted field path -> help text); every option a user
leaves out keeps the value of ``--config FILE`` or the config's default, every option given wins.
The option of ``a.b`` is ``--b`` unless renamed, so the config stays the one source of truth.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer


def _field(cls: type, path: str) -> tuple[Any, Any]:
    """(annotation, default) of the dotted field ``path`` of config class ``cls``."""
    head, _, rest = path.partition(".")
    hints = typing.get_type_hints(cls, include_extras=True)
    f = {f.name: f for f in dataclasses.fields(cls)}[head]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    if rest:
        return _field(type(default), rest)
    return hints[head], default


def _cli_type(annotation: Any) -> type:
    """The Python type typer parses for a field: its base type (Literal -> str, tuple -> comma-separated str)."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return str
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return _cli_type(next(a for a in typing.get_args(annotation) if a is not type(None)))
    if origin is tuple:
        return str
    return annotation


def option_name(path: str, rename: dict[str, str]) -> str:
    return rename.get(path, "--" + path.rsplit(".", 1)[-1].replace("_", "-"))


def config_options(
    cls: type, helps: dict[str, str], rename: dict[str, str], panels: dict[str, str] | None = None
) -> list[inspect.Parameter]:
    """One keyword parameter per exposed field, typed for typer, default None (= not given)."""
    params = []
    for path, text in helps.items():
        annotation, default = _field(cls, path)
        kind, flag = _cli_type(annotation), option_name(path, rename)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool and "/" not in flag else [flag]
        panel = (panels or {}).get(path)
        option = typer.Option(
            *decls, help=text if default is None else f"{text} (default: {shown})", rich_help_panel=panel
        )
        params.append(
            inspect.Parameter(
                path.replace(".", "__"),
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[Optional[kind], option],
            )
        )
    return params


def overrides(cls: type, given: dict[str, Any]) -> dict[str, Any]:
    """The options the user gave, as a nested dict for ``Config.merged`` (comma lists become tuples)."""
    out: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        path = name.replace("__", ".")
        if isinstance(value, str) and typing.get_origin(_strip(_field(cls, path)[0])) is tuple:
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        head, _, rest = path.partition(".")
        if rest:
            out.setdefault(head, {})[rest] = value
        else:
            out[head] = value
    return out


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def with_config_options(
    cls: type, helps: dict[str, str], rename: dict[str, str] | None = None, panels: dict[str, str] | None = None
) -> Callable:
    """Decorator: append ``cls``'s exposed fields as options to a command (grouped into ``panels`` in --help);
    it receives them as ``given``."""

    def decorate(fn: Callable) -> Callable:
        hints = typing.get_type_hints(fn, include_extras=True)  # the command's own options, annotations resolved
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(fn).parameters.values()
            if p.name != "given"
        ]
        made = config_options(cls, helps, rename or {}, panels)

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            given = {p.name: kwargs.pop(p.name) for p in made}
            return fn(**kwargs, given=overrides(cls, given))

        command.__signature__ = inspect.Signature([*own, *made])  # type: ignore[attr-defined]
        return command

    return decorate
