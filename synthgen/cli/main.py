"""The ``synthgen`` app: one Typer per command module, joined here."""

from __future__ import annotations

import os
import sys

import typer

from . import export, generate, inspect_cmd, publish, pull, verify

app = typer.Typer(
    name="synthgen",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Learn, save, verify and share synthetic datasets for continual learning.",
)
for module in (generate, export, inspect_cmd, publish, pull, verify):
    app.add_typer(module.app)


def keep_triton_out() -> bool:
    """Mark triton unavailable in this process (unless ``SYNTHGEN_ALLOW_TRITON=1``); True if it did.

    synthgen compiles no kernels, but torch.func's first ``grad`` imports torch._dynamo, which
    imports triton: 76 MB of resident memory for nothing (docs/design.md). torch treats a missing
    triton as "no GPU code generation", which is what this process does anyway."""
    if os.environ.get("SYNTHGEN_ALLOW_TRITON") == "1" or "triton" in sys.modules:
        return False
    sys.modules["triton"] = None  # `import triton` now raises ImportError; find_spec returns None
    return True


def main() -> None:
    """Console-script entry point (also ``python -m synthgen`` and the processes torchrun starts)."""
    keep_triton_out()
    app()


if __name__ == "__main__":
    main()
