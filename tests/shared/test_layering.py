"""The layers of shared/, read from the source: types at the bottom, services never reach up to the HTTP
boundary or down to the driver, and no two modules import each other."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

SHARED = ROOT / "shared"


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, deferred ones too (`from shared import db` counts as shared.db)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if (SHARED.parent / node.module.replace(".", "/") / f"{alias.name}.py").exists()}
    return found


def test_services_import_neither_the_http_boundary_nor_the_driver():
    for path in sorted((SHARED / "services").glob("*.py")):
        imported = _imports(path)
        assert not {m for m in imported if m == "shared.http" or m.startswith("pg8000")}, path.name


def test_types_imports_nothing_from_shared():
    assert not {m for m in _imports(SHARED / "types.py") if m.split(".")[0] == "shared"}


def test_no_two_shared_modules_import_each_other():
    """Counting deferred imports too: none is needed to dodge a cycle."""
    paths = sorted(SHARED.rglob("*.py"))
    graph = {_module(p): {m for m in _imports(p) if m.startswith("shared.")} for p in paths}
    for module, imported in graph.items():
        for other in imported:
            assert module not in graph.get(other, set()), f"{module} and {other} import each other"


def test_the_functions_still_import_request_and_handler_from_the_boundary():
    from shared import types
    from shared.http import Request, Response, handler

    assert (Request, Response) == (types.Request, types.Response) and callable(handler)


def test_only_the_metrics_service_loads_prometheus_client_and_only_ops_metrics_loads_it():
    """prometheus_client costs a cold start tens of milliseconds: no other function may pay for it."""
    importers = {_module(p) for p in sorted(SHARED.rglob("*.py"))
                 if any(m.split(".")[0] == "prometheus_client" for m in _imports(p))}
    assert importers == {"shared.services.metrics"}
    assert not {_module(p) for p in sorted(SHARED.rglob("*.py")) if "shared.services.metrics" in _imports(p)}
    functions = ROOT / "functions"
    users = {str(p.parent.relative_to(functions)) for p in sorted(functions.rglob("*.py"))
             if "shared.services.metrics" in _imports(p) or any(m.split(".")[0] == "prometheus_client"
                                                                for m in _imports(p))}
    assert users == {"ops/metrics"}


def test_only_the_labels_service_loads_segno_and_only_items_label_loads_it():
    """segno costs a cold start about 30 ms and is bundled into items/label alone (project.yml)."""
    importers = {_module(p) for p in sorted(SHARED.rglob("*.py")) if "segno" in _imports(p)}
    assert importers == {"shared.services.labels"}
    assert not {_module(p) for p in sorted(SHARED.rglob("*.py")) if "shared.services.labels" in _imports(p)}
    functions = ROOT / "functions"
    users = {str(p.parent.relative_to(functions)) for p in sorted(functions.rglob("*.py"))
             if {"segno", "shared.services.labels"} & _imports(p)}
    assert users == {"items/label"}
