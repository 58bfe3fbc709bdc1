"""What import-linter cannot check: the single-file modules, and private names across packages.

import-linter takes only packages as roots (see .importlinter), so the rules about app.py, worker.py
and the leaves are checked here by reading every module of the project with ``ast``.
"""

from __future__ import annotations

import ast
import configparser
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
# Processes of the Procfile and what only they use: they may import the project (embedded_redis and run,
# make run's honcho, only the leaves); nothing
# imports them, except that the worker and the webhook receiver build the app.
ENTRY_POINTS = {"app", "worker", "webhooks", "cron", "periodic", "run", "embedded_redis"}
ALLOWED_ENTRY_POINT_IMPORTS = {("worker", "app"), ("webhooks", "app"), ("worker", "cron"), ("worker", "periodic"),
                               ("cron", "periodic")}
# The base class of every refusal: the one module a leaf may import.
ERROR_BASE = "domain_errors"
# Top-level modules every package may use, which need a leaf or two themselves (the CLI's error mapping).
ABOVE_LEAVES = {"cli_errors"}


@dataclass(frozen=True)
class Import:
    importer: str  # the module that imports, e.g. "campaigns.materialise"
    module: str  # the module imported from, e.g. "audience.segments"
    name: str | None  # the name taken from it (``from module import name``), None for ``import module``
    line: int

    def __str__(self) -> str:
        what = f"from {self.module} import {self.name}" if self.name else f"import {self.module}"
        return f"{self.importer}:{self.line}: {what}"


def top_level_modules() -> set[str]:
    return {path.stem for path in PROJECT.glob("*.py")}


def packages() -> set[str]:
    return {path.parent.name for path in PROJECT.glob("*/__init__.py")} - {"tests"}


def project_files() -> dict[str, Path]:
    """Every module of the project by its dotted name (tests, migrations and benchmarks aside)."""
    files = {name: PROJECT / f"{name}.py" for name in top_level_modules()}
    for package in packages():
        for path in (PROJECT / package).rglob("*.py"):
            parts = path.relative_to(PROJECT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def _top(module: str) -> str:
    return module.split(".")[0]


def imports_of(module: str, path: Path) -> list[Import]:
    """Every import in the module, at any depth (an import inside a function counts too)."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            found += [Import(module, source, alias.name, node.lineno) for alias in node.names]
    return found


def private_attributes_of_modules(module: str, path: Path, project: set[str]) -> list[Import]:
    """``alias._name`` where ``alias`` is a project module bound by an import (``from audience import status``)."""
    tree = ast.parse(path.read_text(), str(path))
    bound: dict[str, str] = {}
    for found in imports_of(module, path):
        if _top(found.module) not in project:
            continue
        if found.name is None:
            bound[found.module.split(".")[0]] = found.module.split(".")[0]
        else:
            bound[found.name] = f"{found.module}.{found.name}"
    return [
        Import(module, bound[node.value.id], node.attr, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
        and _is_private(node.attr)
    ]


def _is_private(name: str | None) -> bool:
    return bool(name) and name.startswith("_") and not name.startswith("__")


def test_every_package_is_a_root_of_the_import_contracts():
    parser = configparser.ConfigParser()
    parser.read(PROJECT / ".importlinter")
    roots = set(parser["importlinter"]["root_packages"].split())
    assert roots == packages(), "add the new package to root_packages in .importlinter (and to its contracts)"


def test_leaves_import_no_module_of_the_project_but_the_error_base():
    project = top_level_modules() | packages()
    leaves = top_level_modules() - ENTRY_POINTS - ABOVE_LEAVES
    assert {"config", "extensions", "dbtypes", "spreadsheets", ERROR_BASE} <= leaves
    wrong = [
        str(found) for leaf in sorted(leaves) for found in imports_of(leaf, PROJECT / f"{leaf}.py")
        if _top(found.module) in project and _top(found.module) != ERROR_BASE
    ]
    assert wrong == []


@pytest.mark.parametrize("module", sorted(ABOVE_LEAVES | {"embedded_redis", "run"}))
def test_the_modules_just_above_the_leaves_import_only_leaves(module):
    project = top_level_modules() | packages()
    leaves = top_level_modules() - ENTRY_POINTS - ABOVE_LEAVES
    wrong = [
        str(found) for found in imports_of(module, PROJECT / f"{module}.py")
        if _top(found.module) in project and _top(found.module) not in leaves
    ]
    assert wrong == []


def test_nothing_imports_an_entry_point_and_only_the_app_imports_web():
    wrong = []
    for module, path in project_files().items():
        for found in imports_of(module, path):
            imported = _top(found.module)
            if imported in ENTRY_POINTS and (module, imported) not in ALLOWED_ENTRY_POINT_IMPORTS:
                wrong.append(str(found))
            if imported == "web" and _top(module) not in ("web", "app"):
                wrong.append(str(found))
    assert wrong == []


def test_no_module_takes_a_private_name_from_another_package():
    project = top_level_modules() | packages()
    wrong = []
    for module, path in project_files().items():
        found = imports_of(module, path) + private_attributes_of_modules(module, path, project)
        wrong += [
            str(item) for item in found
            if _is_private(item.name) and _top(item.module) in project and _top(item.module) != _top(module)
        ]
    assert wrong == []


def test_the_checks_see_imports_at_any_depth_and_relative_ones(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from .segments import _hidden\n    import audience.status\n")
    found = imports_of("audience.views", source)
    assert [str(item) for item in found] == [
        "audience.views:2: from audience.segments import _hidden", "audience.views:3: import audience.status",
    ]
    source.write_text("from audience import status\nstatus._BLOCKING\n")
    assert [str(item) for item in private_attributes_of_modules("campaigns.x", source, {"audience"})] == [
        "campaigns.x:2: from audience.status import _BLOCKING",
    ]
