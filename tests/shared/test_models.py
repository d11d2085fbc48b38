"""shared.models: one submodule per domain, each loaded on first use, all reachable from shared.models."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

from pydantic import BaseModel

from tests.conftest import ROOT


def _defined_in(module_name: str) -> set[str]:
    """The public models and type aliases a submodule defines (not those it imports)."""
    module = importlib.import_module(module_name)
    base = importlib.import_module("shared.models.base")
    return {name for name, value in vars(module).items()
            if not name.startswith("_") and "[" not in name and name not in vars(base)
            and (isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module_name
                 or name.endswith("Page") or type(value).__name__ in ("_LiteralGenericAlias", "_GenericAlias"))}


def test_every_model_is_found_in_its_domain_through_shared_models():
    from shared import models

    for domain, names in models._DOMAINS.items():
        assert _defined_in(f"shared.models.{domain}") == set(names), domain
        for name in names:
            assert getattr(models, name) is getattr(importlib.import_module(f"shared.models.{domain}"), name)


def test_an_unknown_name_is_an_attribute_error():
    from shared import models

    try:
        models.NoSuchModel  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchModel" in str(exc)
    else:
        raise AssertionError("shared.models.NoSuchModel should not exist")


def test_a_function_loads_only_its_own_domains_models():
    """A fresh interpreter importing GET /items/{id} defines the items models and no other domain's."""
    probe = ("import importlib.util, json, sys\n"
             f"sys.path.insert(0, {str(ROOT)!r})\n"
             f"spec = importlib.util.spec_from_file_location('main__', {str(ROOT / 'functions/items/get/__main__.py')!r})\n"
             "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('shared.models'))))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == ["shared.models", "shared.models.base", "shared.models.items"]
