"""The folder tree is the map of the flow: each package imports only the layers below it (docs/design.md)."""

import ast
import inspect
from pathlib import Path

import pytest

import synthgen

ROOT = Path(synthgen.__file__).parent
# package -> the synthgen packages it may import (besides itself)
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "format": {"core", "data"},
    "nn": {"core", "data", "format"},
    "generation": {"core", "data", "format", "nn"},
    "verification": {"core", "data", "format", "nn"},
    "share": {"core", "data", "format", "nn", "verification"},
}


def _imports(path: Path) -> set[str]:
    """The synthgen packages a module imports, at any depth of its code (lazy imports included)."""
    package = path.parent.relative_to(ROOT.parent).as_posix().replace("/", ".")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [base] if base != "synthgen" else [f"synthgen.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("synthgen.")}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_the_layers_below_it(package):
    for path in sorted((ROOT / package).glob("*.py")):
        wrong = _imports(path) - ALLOWED[package] - {package}
        assert not wrong, f"{path.relative_to(ROOT)} imports synthgen.{', synthgen.'.join(sorted(wrong))}"


def test_generation_and_verification_never_import_each_other():
    assert "verification" not in ALLOWED["generation"] and "generation" not in ALLOWED["verification"]
    assert {"verification"} <= set().union(*(_imports(p) for p in (ROOT / "share").glob("*.py")))  # the check reads


def test_the_api_names_are_functions_that_nothing_shadows():
    for name in ("generate", "load", "verify", "export", "publish", "pull", "check"):
        assert inspect.isfunction(getattr(synthgen, name)), name
        assert not (ROOT / f"{name}.py").exists() and not (ROOT / name).is_dir(), name


def test_no_module_is_over_300_lines():
    long = {
        p.relative_to(ROOT).as_posix(): n for p in ROOT.rglob("*.py") if (n := len(p.read_text().splitlines())) > 300
    }
    assert not long, long
