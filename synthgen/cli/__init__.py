"""The synthgen command line (typer). Imports as ``synthgen.cli``; one module per command."""
