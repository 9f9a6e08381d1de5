"""The ``synthgen`` app: one Typer per command module, joined here."""
from __future__ import annotations

import typer

from . import export, generate, inspect_cmd, publish, pull, verify

app = typer.Typer(name="synthgen", no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Learn, save, verify and share synthetic datasets for continual learning.")
for module in (generate, export, inspect_cmd, publish, pull, verify):
    app.add_typer(module.app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
