"""infra/knative/, checked offline: each document validates against the Knative CRD schema (the
cloudcoil models generated from Knative's own CRDs; nothing they do not know, nothing they refuse),
and agrees with what IMS serves: a target that exists, probes on real routes, one PingSource per
project.yml trigger, same schedule, posting to the ping path of that trigger."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
import yaml

with warnings.catch_warnings():
    # Generated models whose fields share names with their base class (Channel.name, Channel.namespace…):
    # pydantic warns at import.
    warnings.filterwarnings("ignore", r'Field name "\w+" in "\w+" shadows an attribute in parent "Resource"',
                            UserWarning)
    from cloudcoil.models.knative_eventing.sources.v1 import PingSource
    from cloudcoil.models.knative_serving.serving.v1 import Service

from gateway import framework, manifest
from gateway.openwhisk import cron
from gateway.openwhisk.ping import Pings
from gateway.routes import Router
from tests.conftest import ROOT

KNATIVE = ROOT / "infra" / "knative"
MODELS = {("serving.knative.dev/v1", "Service"): Service, ("sources.knative.dev/v1", "PingSource"): PingSource}


def _documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(KNATIVE.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


DOCS = _documents()
SERVICES = [d for d in DOCS if d["kind"] == "Service"]
PINGS = [d for d in DOCS if d["kind"] == "PingSource"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_document_is_valid_knative_with_no_unknown_field(doc):
    model = MODELS[(doc["apiVersion"], doc["kind"])]
    parsed = model.model_validate(doc)
    assert parsed.model_dump(by_alias=True, exclude_unset=True) == doc  # a misspelt field would be dropped


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_the_service_runs_the_ims_target_as_the_image_does():
    (service,) = SERVICES
    spec = service["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    args = container["args"]
    assert container["command"] == ["functions-framework"]
    assert (ROOT / _arg(args, "--source")).is_file()
    assert _arg(args, "--target") == framework.ALL
    dockerfile = (KNATIVE / "Dockerfile").read_text()
    cmd = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD "))[4:])
    assert cmd == container["command"] + args
    env = {e["name"]: e["value"] for e in container["env"]}
    assert spec["containerConcurrency"] == int(env["WORKERS"]) * int(env["THREADS"])
    assert container["envFrom"] == [{"secretRef": {"name": "ims"}}]
    secrets = {"DATABASE_URL", "REDIS_URL", "JWT_SECRET", "__OW_API_KEY", "MAILER_SECRET", "SMTP_URL"}
    assert not secrets & set(env), "secrets come from the Secret, never inline"


def test_the_probes_are_served_by_the_ims_target():
    (service,) = SERVICES
    (container,) = service["spec"]["template"]["spec"]["containers"]
    router = Router(manifest.load(), "local")
    ready = container["readinessProbe"]["httpGet"]["path"]
    assert router.match("GET", ready)[0].qualified == "ops/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/openapi.json"  # answered without the databases


def test_every_trigger_has_its_ping_source_with_the_same_schedule_and_body():
    (service,) = SERVICES
    schedule = {t.name: t for t in cron.triggers(manifest.load())}
    found: dict[str, dict[str, Any]] = {}
    for doc in PINGS:
        spec = doc["spec"]
        assert spec["sink"]["ref"] == {"apiVersion": service["apiVersion"], "kind": "Service",
                                       "name": service["metadata"]["name"]}
        uri = spec["sink"]["uri"]
        assert Pings.is_ping(uri), uri
        found[uri.rsplit("/", 1)[1]] = spec
    assert set(found) == set(schedule)
    for name, spec in found.items():
        assert spec["schedule"] == schedule[name].cron.text
        assert spec["timezone"] == "UTC"  # project.yml's schedules are UTC, as on DigitalOcean
        assert json.loads(spec["data"]) == schedule[name].body


def test_the_image_installs_requirements_framework_and_what_it_includes():
    dockerfile = (KNATIVE / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --disable-pip-version-check -r requirements-framework.txt" in dockerfile
    copied = next(line for line in dockerfile.splitlines() if "requirements-framework.txt ./" in line).split()[1:-1]
    included = [line.split()[1] for line in (ROOT / "requirements-framework.txt").read_text().splitlines()
                if line.startswith("-r ")]
    assert set(copied) == {"requirements-framework.txt", *included}
