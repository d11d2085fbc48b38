"""infra/k8s/: each overlay (and its migration Job) rendered by `kubectl kustomize`, every document checked
against the Kubernetes 1.32 schemas (kubernetes-validate, strict: an unknown field fails), then what the
schemas cannot say: every pod locked down, probes where the Services send traffic, selectors that select
something, the production overlay without PostgreSQL, no secret in any manifest. Offline: needs kubectl,
not the container image (README, "Kubernetes")."""

from __future__ import annotations

import copy
import functools
import re
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from realtime.config import Config as RealtimeConfig
from tests.conftest import ROOT

K8S = ROOT / "infra" / "k8s"
OVERLAYS = ["local", "production"]
KUBERNETES = "1.32.0"
WORKLOADS = {"Deployment", "StatefulSet", "Job", "CronJob"}
IMS_IMAGES = {"ims-api", "ims-realtime", "ims-jobs"}
# Settings that are credentials: only ever from the Secret, never a literal in a manifest.
SECRETS = {"DATABASE_URL", "DATABASE_DIRECT_URL", "REDIS_URL", "JWT_SECRET", "POSTGRES_PASSWORD",
           "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "METRICS_TOKEN", "SENDGRID_API_KEY", "SMTP_URL",
           "MAILER_SECRET"}

Doc = dict[str, Any]


@functools.cache
def render(folder: str) -> tuple[Doc, ...]:
    """`kubectl kustomize` of a folder under infra/k8s: what `kubectl apply -k` would send."""
    done = subprocess.run(["kubectl", "kustomize", str(K8S / folder)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def find(docs: tuple[Doc, ...], kind: str, name: str | None = None) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    [doc] = find(docs, kind, name)
    return doc


def pod_template(doc: Doc) -> Doc:
    """The pod template of a workload (a CronJob's is one level further down)."""
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return spec["template"]


def containers(pod: Doc) -> list[Doc]:
    return pod["spec"].get("initContainers", []) + pod["spec"]["containers"]


def pods(docs: tuple[Doc, ...]) -> list[tuple[str, Doc]]:
    return [(f"{d['kind']}/{d['metadata']['name']}", pod_template(d)) for d in docs if d["kind"] in WORKLOADS]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def image_name(image: str) -> str:
    """registry.example.com/ims/ims-api:1.0.0 -> ims-api"""
    return image.rsplit("/", 1)[-1].split(":")[0]


def rendered(overlay: str) -> tuple[Doc, ...]:
    """The overlay and its migration Job: everything a release applies."""
    return render(f"overlays/{overlay}") + render(f"overlays/{overlay}/migrate")


# Rendering and the schemas

@pytest.mark.parametrize("folder", [f"overlays/{o}{m}" for o in OVERLAYS for m in ("", "/migrate")])
def test_every_document_is_valid_kubernetes(folder: str) -> None:
    docs = render(folder)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_schema_check_refuses_a_misspelt_field() -> None:
    """The check above can fail: strict validation rejects a field Kubernetes does not know."""
    api = copy.deepcopy(one(render("overlays/local"), "Deployment", "ims-api"))
    api["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/", "port": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(api, KUBERNETES, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_is_in_the_ims_namespace(overlay: str) -> None:
    for doc in rendered(overlay):
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == "ims"
        else:
            assert doc["metadata"].get("namespace") == "ims", f"{doc['kind']}/{doc['metadata']['name']}"


# Every pod locked down

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_and_container_runs_locked_down(overlay: str) -> None:
    found = pods(rendered(overlay))
    assert {name.split("/")[0] for name, _ in found} == WORKLOADS
    for name, pod in found:
        spec = pod["spec"]
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context.get("runAsUser", 1) != 0, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in containers(pod):
            where = f"{name} container {container['name']}"
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc.get("privileged", False) is False and sc.get("runAsUser", 1) != 0, where
            # A read-only root needs somewhere to write: /tmp on an emptyDir.
            [tmp] = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert "emptyDir" in volumes[tmp["name"]], where
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), where
            assert "memory" in container["resources"]["limits"], where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_stateful_services_keep_their_data_on_volume_claims(overlay: str) -> None:
    """PostgreSQL (local only) and Redis write nothing but their volumes, their data on a claim that
    outlives the pod, and fsGroup lets the image's own user (999) write to a new volume."""
    docs = render(f"overlays/{overlay}")
    data_dirs = {"ims-redis": "/data"} | ({"ims-postgres": "/var/lib/postgresql/data"} if overlay == "local" else {})
    assert {s["metadata"]["name"] for s in find(docs, "StatefulSet")} == data_dirs.keys()
    for name, path in data_dirs.items():
        stateful = one(docs, "StatefulSet", name)
        [claim] = stateful["spec"]["volumeClaimTemplates"]
        [container] = stateful["spec"]["template"]["spec"]["containers"]
        assert {"name": claim["metadata"]["name"], "mountPath": path} in container["volumeMounts"]
        context = stateful["spec"]["template"]["spec"]["securityContext"]
        assert context["runAsUser"] == context["fsGroup"] == 999
        assert one(docs, "Service", stateful["spec"]["serviceName"])


# The api and realtime

def probe_target(container: Doc, probe: str) -> tuple[str, int]:
    """(path, container port) of an HTTP probe, its named port resolved."""
    get = container[probe]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    return get["path"], ports[get["port"]] if isinstance(get["port"], str) else get["port"]


def deployment(docs: list[Doc], name: str, command: list[str]) -> tuple[Doc, Doc]:
    """The Deployment `name` and its one container, checked to run image `name` with `command`."""
    found = one(docs, "Deployment", name)
    [container] = found["spec"]["template"]["spec"]["containers"]
    assert image_name(container["image"]) == name
    assert container["command"] == command
    return found, container


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_serves_the_front_on_8000_with_all_three_probes(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    api, container = deployment(docs, "ims-api", ["python", "-m", "gateway.serve"])
    config = one(docs, "ConfigMap", "ims-config")["data"]
    assert config["IMS_HOST"] == "0.0.0.0"
    assert probe_target(container, "readinessProbe") == ("/api/v1/health", int(config["IMS_PORT"])) == (
        "/api/v1/health", 8000)
    assert "ims-route: GET /health" in (ROOT / "project.yml").read_text()  # the route the probe asks
    # Started and alive while the server answers, whatever the databases do (see api.yaml).
    assert probe_target(container, "startupProbe") == probe_target(container, "livenessProbe") == (
        "/openapi.json", 8000)
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # Stopping waits for requests in flight (IMS_GRACEFUL_TIMEOUT, 30 s) within the grace period.
    assert api["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > 30


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_realtime_listens_on_ims_ws_port_with_healthz_probes(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    realtime, container = deployment(docs, "ims-realtime", ["python", "-m", "realtime"])
    port = int(one(docs, "ConfigMap", "ims-config")["data"]["IMS_WS_PORT"])
    assert port == RealtimeConfig().port
    for probe in ("readinessProbe", "startupProbe", "livenessProbe"):
        assert probe_target(container, probe) == ("/healthz", port), probe
    assert realtime["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_and_pdbs_select_pods_that_exist(overlay: str) -> None:
    docs = rendered(overlay)
    for doc in docs:  # the API server refuses a workload whose selector misses its own pods
        if doc["kind"] in ("Deployment", "StatefulSet"):
            assert selects(doc["spec"]["selector"]["matchLabels"], pod_template(doc)["metadata"]["labels"])
    templates = [pod for _, pod in pods(docs)]
    for service in find(docs, "Service"):
        [pod] = [p for p in templates if selects(service["spec"]["selector"], p["metadata"]["labels"])]
        ports = {p["name"] for c in containers(pod) for p in c.get("ports", [])}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports, service["metadata"]["name"]
    pdbs = find(docs, "PodDisruptionBudget")
    assert {p["metadata"]["name"] for p in pdbs} == {"ims-api", "ims-realtime"}
    for pdb in pdbs:
        selector = pdb["spec"]["selector"]["matchLabels"]
        selected = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")
                    and selects(selector, pod_template(d)["metadata"]["labels"])]
        assert [d["metadata"]["name"] for d in selected] == [pdb["metadata"]["name"]]
        # A drain may always proceed, one pod at a time, whatever the replica count.
        assert pdb["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_autoscaler_scales_the_api_deployment_on_cpu(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    [hpa] = find(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ims-api"}
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    # The autoscaler owns the count: an apply must not set it back.
    assert "replicas" not in one(docs, "Deployment", "ims-api")["spec"]
    [container] = one(docs, "Deployment", "ims-api")["spec"]["template"]["spec"]["containers"]
    assert "cpu" in container["resources"]["requests"]  # what Utilization is a percentage of
    minimum, maximum = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    if overlay == "local":
        assert (minimum, maximum) == (1, 2)
    else:
        assert minimum >= 3 and maximum > minimum


def test_production_runs_more_replicas_than_local() -> None:
    local, production = render("overlays/local"), render("overlays/production")
    assert one(local, "Deployment", "ims-realtime")["spec"]["replicas"] == 1
    assert one(production, "Deployment", "ims-realtime")["spec"]["replicas"] > 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingresses_route_to_the_services_and_keep_websockets_open_an_hour(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    services = {s["metadata"]["name"]: {p["name"] for p in s["spec"]["ports"]} for s in find(docs, "Service")}
    routes = {}
    for ingress in find(docs, "Ingress"):
        assert ingress["spec"]["ingressClassName"] == "nginx"
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["port"]["name"] in services[backend["name"]]
                routes[path["path"]] = backend["name"]
    assert routes == {"/": "ims-api", "/ws": "ims-realtime"}
    annotations = one(docs, "Ingress", "ims-realtime")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"


# NetworkPolicies

def allowed_from(policies: list[Doc], pod_labels: dict[str, str]) -> list[Doc]:
    """The ingress rules of the policies that select pods with these labels."""
    rules = []
    for policy in policies:
        selector = policy["spec"]["podSelector"]
        if selector == {} or selects(selector.get("matchLabels", {}), pod_labels):
            rules += policy["spec"].get("ingress", [])
    return rules


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_open_only_what_is_used(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    policies = find(docs, "NetworkPolicy")
    deny = one(docs, "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}  # no rule: nothing allowed
    labels = {name: pod_template(one(docs, kind, name))["metadata"]["labels"]
              for kind, name in [("Deployment", "ims-api"), ("Deployment", "ims-realtime"),
                                 ("StatefulSet", "ims-redis")]
              + ([("StatefulSet", "ims-postgres")] if overlay == "local" else [])}
    for name, port in [("ims-api", 8000), ("ims-realtime", 8001)]:
        [rule] = allowed_from(policies, labels[name])
        assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}} in rule["from"]
        assert rule["ports"] == [{"protocol": "TCP", "port": port}]
    for name, port in [("ims-redis", 6379), ("ims-postgres", 5432)]:
        if name not in labels:
            continue
        [rule] = allowed_from(policies, labels[name])
        assert rule["ports"] == [{"protocol": "TCP", "port": port}]
        for peer in rule["from"]:  # only pods of this namespace (no namespaceSelector), only IMS's
            assert peer.keys() == {"podSelector"}
            assert {"key": "app.kubernetes.io/name", "operator": "In", "values": ["ims"]} in (
                peer["podSelector"]["matchExpressions"])


def matches(selector: Doc, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and `In` matchExpressions) against a pod's labels; {} selects all."""
    expressions = selector.get("matchExpressions", [])
    assert all(e["operator"] == "In" for e in expressions), expressions
    return (selector.get("matchLabels", {}).items() <= labels.items()
            and all(labels.get(e["key"]) in e["values"] for e in expressions))


def egress_of(policies: list[Doc], labels: dict[str, str]) -> set[str]:
    """Where a pod with these labels may send: 'dns', '<component>:<port>' for IMS pods, 'outside'."""
    allowed = set()
    for policy in policies:
        if not matches(policy["spec"]["podSelector"], labels):
            continue
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to"), (policy["metadata"]["name"], rule)  # never `- {}`: anywhere, any port
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    assert peer["ipBlock"] == {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}
                    assert "ports" not in rule
                    allowed.add("outside")
                elif "namespaceSelector" in peer:
                    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
                    assert {p["port"] for p in rule["ports"]} == {53}
                    allowed.add("dns")
                else:
                    component = peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                    allowed |= {f"{component}:{p['port']}" for p in rule["ports"]}
    return allowed


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_egress_is_only_what_each_pod_uses(overlay: str) -> None:
    """DNS for all; the in-cluster databases for their clients; outside the cluster (but the cloud metadata
    address) only for mail (api), S3 (backup) and a managed database (migrate; production: realtime too)."""
    policies = find(render(f"overlays/{overlay}"), "NetworkPolicy")
    pg = {"postgres:5432"} if overlay == "local" else set()
    external = {"outside"} if overlay == "production" else set()
    expected = {"api": {"dns", "redis:6379", "outside", *pg}, "realtime": {"dns", "redis:6379", *pg, *external},
                "migrate": {"dns", "outside", *pg}, "backup": {"dns", "outside", *pg},
                "postgres": {"dns"}, "redis": {"dns"}}
    for component, allowed in expected.items():
        labels = {"app.kubernetes.io/name": "ims", "app.kubernetes.io/component": component}
        assert egress_of(policies, labels) == allowed, component


# Managed database, migrations, backup

def test_production_has_no_postgresql_and_local_has_one() -> None:
    production, local = render("overlays/production"), render("overlays/local")
    for docs, present in [(production, False), (local, True)]:
        postgres = [f"{d['kind']}/{d['metadata']['name']}" for d in docs if "postgres" in d["metadata"]["name"]]
        images = [c["image"] for _, pod in pods(docs) for c in containers(pod)]
        assert bool(postgres) is present and any(i.startswith("postgres:16") for i in images) is present
    # What the README's first local install applies alone, by this label, before the migration Job.
    labelled = {f"{d['kind']}/{d['metadata']['name']}" for d in local
                if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "postgres"}
    assert labelled == {"StatefulSet/ims-postgres", "Service/ims-postgres", "NetworkPolicy/ims-postgres-ingress",
                        "NetworkPolicy/ims-postgres-egress"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_migration_job_is_applied_on_its_own_with_the_release_image(overlay: str) -> None:
    """Not part of the overlay (its pods would start beside the Job, not after it): a kustomization of
    its own, whose image is the same release's as the CronJob's."""
    app, migrate = render(f"overlays/{overlay}"), render(f"overlays/{overlay}/migrate")
    assert not find(app, "Job")
    [job] = migrate
    assert (job["kind"], job["metadata"]["name"]) == ("Job", "ims-migrate")
    [container] = pod_template(job)["spec"]["containers"]
    assert container["command"] == ["python", "-m", "shared.migrate"]
    [cronjob] = find(app, "CronJob")
    [backup] = pod_template(cronjob)["spec"]["containers"]
    assert container["image"] == backup["image"] and image_name(container["image"]) == "ims-jobs"
    assert job["spec"]["backoffLimit"] >= 1 and job["spec"]["activeDeadlineSeconds"] > 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_backup_cronjob_is_infra_backup_cronjob_yaml_itself(overlay: str) -> None:
    """Reused, not copied: only the image differs from the file the backup tests check."""
    [cronjob] = find(render(f"overlays/{overlay}"), "CronJob")
    original = yaml.safe_load((ROOT / "infra" / "backup" / "cronjob.yaml").read_text())
    [container] = pod_template(cronjob)["spec"]["containers"]
    [plain] = pod_template(original)["spec"]["containers"]
    assert plain.pop("image") == "${IMS_REGISTRY}/ims-jobs:${IMS_VERSION}"
    container = dict(container)
    assert image_name(container.pop("image")) == "ims-jobs"
    assert container == plain
    assert cronjob["spec"]["schedule"] == original["spec"]["schedule"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_come_from_the_overlays_registry_at_one_tag(overlay: str) -> None:
    images = {c["image"] for _, pod in pods(rendered(overlay)) for c in containers(pod)}
    ims = {i for i in images if image_name(i) in IMS_IMAGES}
    assert {image_name(i) for i in ims} == IMS_IMAGES
    prefix = "localhost/" if overlay == "local" else "registry.example.com/ims/"
    assert all(i.startswith(prefix) for i in ims), ims
    assert len({i.rsplit(":", 1)[1] for i in ims}) == 1, ims  # one release: one tag
    assert all(":" in i for i in images), images  # never an implicit :latest


# Secrets

def test_production_pulls_the_ims_images_with_the_registry_secret() -> None:
    """GHCR packages are private by default: every IMS pod of the production overlay (and its migration Job)
    names the pull Secret ghcr-pull; the overlay only names it, never carries it."""
    docs = rendered("production")
    for name, pod in pods(docs):
        ims = any(image_name(c["image"]) in IMS_IMAGES for c in containers(pod))
        assert (pod["spec"].get("imagePullSecrets") == [{"name": "ghcr-pull"}]) is ims, name
    assert not find(docs, "Secret")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_backup_holds_the_storage_keys(overlay: str) -> None:
    """The Secret ims-backup (AWS_*) reaches the backup CronJob's pod and no other."""
    holders = [name for name, pod in pods(rendered(overlay)) for container in containers(pod)
               if {"secretRef": {"name": "ims-backup"}} in container.get("envFrom", [])
               or any(v.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "ims-backup"
                      for v in container.get("env", []))]
    assert holders == ["CronJob/ims-backup"]


def test_the_secret_templates_put_the_storage_keys_in_ims_backup_only() -> None:
    def keys(name: str) -> dict[str, str]:
        lines = (K8S / name).read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))

    app, backup = keys("secrets.env.example"), keys("backup.env.example")
    assert not any(key.startswith("AWS_") for key in app)
    assert set(backup) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert "#AWS_ENDPOINT_URL=" in (K8S / "backup.env.example").read_text()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_manifest_carries_a_secret(overlay: str) -> None:
    docs = rendered(overlay)
    for secret in find(docs, "Secret"):
        assert not secret.get("data") and not secret.get("stringData"), secret["metadata"]["name"]
    for name, pod in pods(docs):
        for container in containers(pod):
            assert {"secretRef": {"name": "ims-secrets"}} in container.get("envFrom", []) or container[
                "name"] in ("redis", "postgres"), name
            for var in container.get("env", []):
                if var["name"] in SECRETS:
                    assert "value" not in var and "secretKeyRef" in var["valueFrom"], (name, var)
    for config in find(docs, "ConfigMap"):
        assert not SECRETS & config["data"].keys()
    text = yaml.safe_dump_all(docs)
    assert not re.search(r"\w+://[^/\s:@]+:[^@\s]+@", text)  # no URL with a password


def test_the_secret_template_holds_no_value_and_its_copy_is_ignored() -> None:
    example = K8S / "secrets.env.example"
    keys = set()
    for line in example.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            keys.add(key)
            # Empty, or a URL whose password is a placeholder, or an in-cluster URL without one.
            assert not value or "<POSTGRES_PASSWORD>" in value or "@" not in value, line
    assert {"JWT_SECRET", "DATABASE_URL", "REDIS_URL", "POSTGRES_PASSWORD"} <= keys
    ignored = subprocess.run(["git", "check-ignore", "-q", str(K8S / "secrets.env")], cwd=ROOT)
    assert ignored.returncode == 0, "infra/k8s/secrets.env must be ignored by git"


def test_the_in_cluster_postgres_password_comes_from_the_secret() -> None:
    [container] = one(render("overlays/local"), "StatefulSet", "ims-postgres")["spec"]["template"]["spec"][
        "containers"]
    env = {v["name"]: v for v in container["env"]}
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "ims-secrets",
                                                                    "key": "POSTGRES_PASSWORD"}

