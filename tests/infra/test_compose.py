"""infra/compose.yaml, checked offline: against the Compose specification (check-jsonschema's bundled copy of
its schema), for what IMS needs of it (services, health checks, start order, volumes, hardening, no secret),
and, rendered by infra/swarm.py, by the Docker client's own stack loader (`docker stack config` needs no
engine). No image can be pulled here, so nothing is started: the IMS images run in tests/infra's other
modules."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

INFRA = ROOT / "infra"
COMPOSE_FILE = INFRA / "compose.yaml"
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
IMS = ("api", "realtime", "migrate", "backup")  # the services running IMS's own images
STATEFUL = ("postgres", "redis", "prometheus", "grafana")
CHECK_JSONSCHEMA = str(Path(sys.executable).with_name("check-jsonschema"))
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|ACCESS_KEY|DATABASE_(DIRECT_)?URL|REDIS_URL|SMTP_URL")


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_compose_file_follows_the_compose_specification():
    done = check_compose_schema(COMPOSE_FILE)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("breakage", [
    ("api", "helthcheck", {"test": ["CMD", "true"]}),  # a misspelt key
    ("api", "deploy", {"update_config": {"order": "sideways"}}),  # a value out of its range
    ("postgres", "depends_on", {"redis": {"condition": "service_ready"}}),  # no such condition
])
def test_the_schema_check_refuses_a_broken_file(tmp_path: Path, breakage: tuple[str, str, Any]):
    """The check above can fail: the same file with one key broken is refused, naming the key."""
    service, key, value = breakage
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"][service][key] = value
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    done = check_compose_schema(path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert key in done.stdout + done.stderr


def test_the_services():
    assert set(SERVICES) == {*IMS, *STATEFUL}
    assert SERVICES["postgres"]["image"] == "postgres:16"
    assert SERVICES["redis"]["image"] == "redis:7"
    for service, image, dockerfile in [("api", "ims-api", "api"), ("realtime", "ims-realtime", "realtime"),
                                       ("migrate", "ims-jobs", "jobs"), ("backup", "ims-jobs", None)]:
        spec = SERVICES[service]
        assert spec["image"] == f"${{IMS_REGISTRY:-localhost}}/{image}:${{IMS_VERSION:-latest}}"
        if dockerfile:
            assert spec["build"] == {"context": "..", "dockerfile": f"infra/images/{dockerfile}.Dockerfile"}
    assert SERVICES["migrate"]["command"] == ["python", "-m", "shared.migrate"]
    assert SERVICES["backup"]["profiles"] == ["backup"]  # `up` leaves it alone


def test_the_files_it_names_exist():
    """Dockerfiles, Prometheus's configuration and rules, Grafana's provisioning: mounted by these paths."""
    for spec in SERVICES.values():
        if "build" in spec:
            assert (INFRA / spec["build"]["context"] / spec["build"]["dockerfile"]).is_file(), spec["build"]
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (INFRA / source).exists(), source


def _healthcheck(service: str) -> str:
    return " ".join(SERVICES[service]["healthcheck"]["test"])


def test_health_checks():
    assert "pg_isready" in _healthcheck("postgres")
    assert _healthcheck("redis") == "CMD redis-cli ping"
    # The images have no curl: Python's urllib asks the api's health route and realtime's /healthz.
    assert "urllib.request" in _healthcheck("api") and "/api/v1/health'" in _healthcheck("api")
    assert "urllib.request" in _healthcheck("realtime") and "/healthz'" in _healthcheck("realtime")
    for service in ("api", "realtime", *STATEFUL):
        assert SERVICES[service]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), service


def test_start_order_waits_for_the_migration_and_healthy_databases():
    def conditions(service: str) -> dict[str, str]:
        return {name: dep["condition"] for name, dep in SERVICES[service]["depends_on"].items()}

    assert conditions("api") == {"migrate": "service_completed_successfully",
                                 "postgres": "service_healthy", "redis": "service_healthy"}
    assert conditions("realtime") == {"migrate": "service_completed_successfully", "redis": "service_healthy"}
    assert conditions("migrate") == {"postgres": "service_healthy"}


def test_data_lives_in_named_volumes():
    declared = set(COMPOSE["volumes"])
    mounts = {service: {v.split(":")[1]: v.split(":")[0] for v in spec.get("volumes", [])}
              for service, spec in SERVICES.items()}
    assert mounts["postgres"]["/var/lib/postgresql/data"] in declared
    assert mounts["redis"]["/data"] in declared
    assert mounts["prometheus"]["/prometheus"] in declared
    assert mounts["grafana"]["/var/lib/grafana"] in declared
    assert "--appendonly" in SERVICES["redis"]["command"] and "yes" in SERVICES["redis"]["command"]
    for spec in SERVICES.values():  # every other mount is a path in the checkout, read-only
        for volume in spec.get("volumes", []):
            if volume.split(":")[0] not in declared:
                assert volume.startswith("./") and volume.endswith(":ro"), volume


def test_ims_services_run_locked_down_with_settings_from_an_env_file():
    for service in IMS:
        spec = SERVICES[service]
        assert spec["read_only"] is True, service
        assert any(entry.split(":")[0] == "/tmp" for entry in spec["tmpfs"]), service
        assert spec["cap_drop"] == ["ALL"], service
        assert "no-new-privileges:true" in spec["security_opt"], service
        assert spec["env_file"], service
    assert SERVICES["api"]["env_file"] == "${IMS_ENV_FILE:-ims.env}"


def test_monitoring_is_published_on_loopback_only():
    """Prometheus has no login and Grafana's is the only guard: neither is on the host's public addresses."""
    for service in ("prometheus", "grafana"):
        assert all(port.startswith("127.0.0.1:") for port in SERVICES[service]["ports"]), service
    for service in ("api", "realtime"):  # what the load balancer or the clients reach
        assert not any(port.startswith("127.0.0.1:") for port in SERVICES[service]["ports"]), service


def test_the_backup_reaches_the_database_and_the_object_storage():
    """backend is internal (no route out): the backup also needs a network that is not, to reach S3."""
    networks = COMPOSE["networks"]
    assert networks["backend"]["internal"] is True
    assert "backend" in SERVICES["backup"]["networks"]
    outward = [name for name in SERVICES["backup"]["networks"] if not (networks[name] or {}).get("internal")]
    assert outward == ["egress"]
    assert not any("egress" in spec.get("networks", []) for name, spec in SERVICES.items() if name != "backup")


def test_no_secret_is_written_in_the_file():
    """Secret settings come from the env file or from secret files: in `environment` only as a `${…}`
    reference or a *_FILE path under /run/secrets; no URL carries a password."""
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"\w+://[^/\s:@]+:[^@\s…]+@", text)  # `…` stands for the password in comments
    for service, spec in SERVICES.items():
        for name, value in (spec.get("environment") or {}).items():
            if name.endswith("_FILE"):
                assert value.startswith("/run/secrets/"), (service, name)
            elif SECRET_NAME.search(name):
                assert re.fullmatch(r"\$\{\w+(:?\?[^}]*)?\}", str(value)), (service, name, value)
    for name, secret in COMPOSE["secrets"].items():
        assert set(secret) == {"file"} and secret["file"].startswith("${IMS_SECRETS_DIR:-./secrets}/"), name
    assert SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"


def test_env_example_holds_only_placeholders():
    settings = dict(line.split("=", 1) for line in (INFRA / "ims.env.example").read_text().splitlines()
                    if line and not line.startswith("#"))
    assert {"DATABASE_URL", "REDIS_URL", "JWT_SECRET"} <= settings.keys()
    for name, value in settings.items():
        if SECRET_NAME.search(name) and "://" in value:  # a URL: its password, if any, a placeholder
            assert not re.search(r"://[^/\s:@]+:(?!CHANGE-ME@)[^@\s]*@", value), (name, value)
        elif SECRET_NAME.search(name):
            assert value == "CHANGE-ME", (name, value)
    assert "CHANGE-ME@" in settings["DATABASE_URL"]


def test_swarm_deploy_sections():
    for service in ("api", "realtime"):
        deploy = SERVICES[service]["deploy"]
        # Compose runs one: a second container could not bind the published host port (swarm.py: two)
        assert deploy["replicas"] == 1 and SERVICES[service]["ports"]
        assert {k: deploy["update_config"][k] for k in ("parallelism", "order", "failure_action")} == {
            "parallelism": 1, "order": "start-first", "failure_action": "rollback"}
        assert deploy["rollback_config"]["parallelism"] == 1
        assert deploy["restart_policy"]["condition"] == "any"
    for service in STATEFUL:
        deploy = SERVICES[service]["deploy"]
        assert deploy["replicas"] == 1, service
        assert deploy["placement"]["constraints"], service
    assert SERVICES["postgres"]["deploy"]["placement"]["constraints"] == ["node.labels.ims.db == true"]
    # A task that ends: retried only when it fails, so a finished migration stays finished.
    assert SERVICES["migrate"]["deploy"]["restart_policy"]["condition"] == "on-failure"


# Docker Swarm: the Docker client's own loader, which needs no engine.

DOCKER = shutil.which("docker")
needs_docker = pytest.mark.skipif(DOCKER is None, reason="no docker client: `docker stack config` not run")


@pytest.fixture
def swarm_env(tmp_path: Path) -> dict[str, str]:
    """What `docker stack deploy` reads besides the file: the env file and the secret files, here dummies."""
    (tmp_path / "ims.env").write_text("JWT_SECRET=placeholder\n")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in COMPOSE["secrets"]:
        (secrets / name).write_text("placeholder\n")
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
            "IMS_ENV_FILE": str(tmp_path / "ims.env"), "IMS_SECRETS_DIR": str(secrets)}


def _stack_config(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCKER or "docker", "stack", "config", "-c", str(path)], env=env,
                          capture_output=True, text=True, timeout=60)


@needs_docker
def test_swarm_refuses_the_compose_file_as_it_is(tmp_path: Path, swarm_env: dict[str, str]):
    """Why infra/swarm.py exists: the stack loader refuses `depends_on` with conditions, and the backup
    service's Compose-only keys (mem_limit, cpus: "forbidden properties")."""
    done = _stack_config(COMPOSE_FILE, swarm_env)
    assert done.returncode != 0
    assert "forbidden properties" in done.stderr
    without_backup = yaml.safe_load(COMPOSE_FILE.read_text())
    del without_backup["services"]["backup"]
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(without_backup))
    done = _stack_config(path, swarm_env)
    assert done.returncode != 0
    assert "depends_on must be a list" in done.stderr


@needs_docker
def test_swarm_accepts_the_rendered_stack(tmp_path: Path, swarm_env: dict[str, str]):
    source = tmp_path / "compose.yaml"
    shutil.copyfile(COMPOSE_FILE, source)
    subprocess.run([sys.executable, str(INFRA / "swarm.py"), str(source)], check=True, capture_output=True)
    rendered = tmp_path / "stack.yaml"
    done = _stack_config(rendered, {**swarm_env, "IMS_VERSION": "1.2.3"})
    assert done.returncode == 0, done.stderr
    stack = yaml.safe_load(done.stdout)
    assert set(stack["services"]) == set(SERVICES) - {"backup"}
    assert stack["services"]["api"]["image"] == "localhost/ims-api:1.2.3"
    for name, service in stack["services"].items():
        assert "depends_on" not in service
        replicas = 2 if name in ("api", "realtime") else SERVICES[name]["deploy"]["replicas"]
        assert service["deploy"] == _swarm_deploy({**SERVICES[name]["deploy"], "replicas": replicas}), name
    assert stack["services"]["api"]["env_file"] == [swarm_env["IMS_ENV_FILE"]]
    # Swarm cannot publish on loopback (it would publish on every node): monitoring is not published
    assert "ports" not in stack["services"]["prometheus"] and "ports" not in stack["services"]["grafana"]
    assert [p["published"] for p in stack["services"]["api"]["ports"]] == [8000]
    # Prometheus scrapes each task (tasks.<service>), not the services' virtual IPs
    mounts = [(m["source"], m["target"]) for m in stack["services"]["prometheus"]["volumes"] if m["type"] == "bind"]
    assert (str(tmp_path / "monitoring" / "prometheus.swarm.yml"), "/etc/prometheus/prometheus.yml") in mounts
    config = yaml.safe_load((tmp_path / "monitoring" / "prometheus.swarm.yml").read_text())
    names = {job["job_name"]: [n for sd in job.get("dns_sd_configs", []) for n in sd["names"]]
             for job in config["scrape_configs"]}
    assert names["ims-api"] == ["tasks.api"] and names["ims-realtime"] == ["tasks.realtime"]


def test_swarm_replicates_the_api_and_realtime():
    """Behind Swarm's routing mesh two tasks share a published port; the rest keep their one replica."""
    spec = importlib.util.spec_from_file_location("ims_infra_swarm", INFRA / "swarm.py")
    assert spec and spec.loader
    swarm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(swarm)
    stack = swarm.render(yaml.safe_load(COMPOSE_FILE.read_text()))
    replicas = {name: service["deploy"]["replicas"] for name, service in stack["services"].items()}
    assert replicas == {"api": 2, "realtime": 2, "migrate": 1, "postgres": 1, "redis": 1, "prometheus": 1,
                        "grafana": 1}
    assert SERVICES["api"]["deploy"]["replicas"] == 1  # the Compose file itself is left as it was


def _swarm_deploy(deploy: dict[str, Any]) -> dict[str, Any]:
    """The deploy section as the stack loader prints it: memory in bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    out = yaml.safe_load(yaml.safe_dump(deploy))
    for kind in out.get("resources", {}).values():
        if "memory" in kind:
            kind["memory"] = str(int(kind["memory"][:-1]) * units[kind["memory"][-1]])
    return out


# Docker Compose's own loader, when the client has it (GitHub's runners do; this machine does not).

def _has_compose() -> bool:
    return DOCKER is not None and subprocess.run([DOCKER, "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _has_compose(), reason="no `docker compose` plugin here: `docker compose config` not run")
def test_docker_compose_config_accepts_the_file(swarm_env: dict[str, str]):
    done = subprocess.run([DOCKER or "docker", "compose", "-f", str(COMPOSE_FILE), "config", "-q"], env=swarm_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
