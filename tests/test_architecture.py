"""The layout is checked, not remembered: light imports, lazy exports that resolve, notebooks that
import from the public surface. (Who may import whom is import-linter's job: `make lint`.)"""

from __future__ import annotations

import ast
import importlib
import json
import pathlib
import pkgutil
import subprocess
import sys

import pytest

import dialpad_nb

ROOT = pathlib.Path(dialpad_nb.__file__).parent
SUBPACKAGES = sorted(m.name for m in pkgutil.iter_modules(dialpad_nb.__path__) if m.ispkg)
NOTEBOOKS = sorted((ROOT.parent / "notebooks").glob("*.ipynb"))


def _loaded_after(statement: str, modules: tuple[str, ...]) -> list[str]:
    code = f"import sys; {statement}; print(sorted(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().replace("'", '"'))


def test_the_subpackages_are_the_parts_of_the_system():
    assert SUBPACKAGES == [
        "api",
        "calls",
        "charts",
        "cli",
        "core",
        "endpoint",
        "health",
        "ops",
        "rules",
        "samples",
        "sandbox",
        "widgets",
    ]


@pytest.mark.parametrize("module", ["dialpad_nb.health", "dialpad_nb.rules", "dialpad_nb.calls"])
def test_analytics_load_no_server_and_no_database(module):
    assert _loaded_after(f"import {module}", ("starlette", "uvicorn", "sqlite3", "dialpad_nb.sandbox")) == []


def test_the_core_loads_nothing_heavy():
    heavy = ("pandas", "numpy", "httpx", "starlette", "uvicorn", "matplotlib", "ipywidgets")
    statement = (
        "import dialpad_nb.core.policy, dialpad_nb.core.clock, dialpad_nb.core.errors, dialpad_nb.core.models"
    )
    assert _loaded_after(statement, heavy) == []


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_every_subpackage_export_resolves_and_is_not_shadowed_by_a_submodule(package):
    module = importlib.import_module(f"dialpad_nb.{package}")
    exported = getattr(module, "__all__", [])
    submodules = {m.name for m in pkgutil.iter_modules(module.__path__)}
    assert not submodules & set(exported), "an exported name equal to a submodule flips to the module"
    for name in exported:
        assert getattr(module, name) is not None, f"{package}.{name}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_import_from_the_root_or_one_subpackage(notebook):
    allowed = {"dialpad_nb", *(f"dialpad_nb.{p}" for p in SUBPACKAGES)}
    cells = json.loads(notebook.read_text())["cells"]
    wrong = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = "\n".join(
            line for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dialpad_nb"):
                if node.module not in allowed:
                    wrong.append(node.module)
            elif isinstance(node, ast.Import):
                wrong += [a.name for a in node.names if a.name.startswith("dialpad_nb.")]
    assert wrong == []
