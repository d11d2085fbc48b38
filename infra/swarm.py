"""infra/compose.yaml as a Docker Swarm stack file: `python3 infra/swarm.py` writes infra/stack.yaml, then
`docker stack deploy -c infra/stack.yaml ims` (README, "Compose and Swarm").

Why a rendering step: `docker stack deploy` refuses two things the Compose file needs. The long form of
`depends_on` (with `condition:`) is an error there ("services.api.depends_on must be a list", moby/moby#46827),
and Swarm ignores start order anyway: its restart policies and health checks do the waiting. The long form of
`env_file` (`required: false`) is refused too, and Swarm has no profiles, so the on-demand `backup` service
(profile backup) would run as a long-lived service; it is left out. The top-level `name` is refused as well:
the stack's name is `docker stack deploy`'s argument. The api and realtime run two replicas each in the
stack (SWARM_REPLICAS): Swarm's routing mesh spreads a published port over them, whereas under plain
Compose a second container could not bind the same host port, so compose.yaml says one. Everything else (deploy sections, health
checks, secrets, volumes, `${VAR}` references) is copied unchanged; Swarm ignores `build`.
The output keeps the `${VAR}` references: `docker stack deploy` fills them in from the shell's environment.

Ports the Compose file publishes on the host's loopback only (Prometheus, Grafana: `127.0.0.1:…`) are left
out: Swarm ignores the address and would publish them on every node's addresses through its routing mesh.

Prometheus finds each replica of the api and realtime in DNS. Under Compose the service's name answers one
A record per container; under Swarm it answers the service's virtual IP, which balances each scrape onto a
random task (the counters would seem to reset, and rates and alerts go wrong). Swarm's `tasks.<service>`
answers one record per task, so monitoring/prometheus.swarm.yml is written with those names, and the
stack's Prometheus mounts it in place of prometheus.yml.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

INFRA = Path(__file__).resolve().parent
SWARM_REPLICAS = {"api": 2, "realtime": 2}
PROMETHEUS, PROMETHEUS_SWARM = "./monitoring/prometheus.yml", "./monitoring/prometheus.swarm.yml"


def render(compose: dict[str, Any]) -> dict[str, Any]:
    """The stack: no `name`; every service without a profile, without `depends_on` and without ports
    published on loopback; the api and realtime replicated (SWARM_REPLICAS); Prometheus's configuration
    the one with `tasks.<service>` names."""
    stack = {key: value for key, value in compose.items() if key != "name"}
    services = {}
    for name, service in compose["services"].items():
        if service.get("profiles"):
            continue
        services[name] = {key: value for key, value in service.items() if key != "depends_on"}
        if name in SWARM_REPLICAS:
            services[name]["deploy"] = {**service.get("deploy", {}), "replicas": SWARM_REPLICAS[name]}
        if "ports" in service:
            public = [port for port in service["ports"] if not str(port).startswith("127.0.0.1:")]
            if public:
                services[name]["ports"] = public
            else:
                del services[name]["ports"]
        if "volumes" in service:
            services[name]["volumes"] = [volume.replace(f"{PROMETHEUS}:", f"{PROMETHEUS_SWARM}:", 1)
                                         for volume in service["volumes"]]
    stack["services"] = services
    return stack


def prometheus_for_swarm(config: dict[str, Any]) -> dict[str, Any]:
    """prometheus.yml with every DNS name a service's tasks (`tasks.api`), not its virtual IP (`api`)."""
    jobs = []
    for job in config["scrape_configs"]:
        sds = [{**sd, "names": [f"tasks.{name}" for name in sd["names"]]} for sd in job.get("dns_sd_configs", [])]
        jobs.append({**job, "dns_sd_configs": sds} if sds else job)
    return {**config, "scrape_configs": jobs}


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else INFRA / "compose.yaml"
    target = source.with_name("stack.yaml")  # beside the source: relative bind mounts resolve the same way
    stack = render(yaml.safe_load(source.read_text()))
    header = f"# Rendered from {source.name} by infra/swarm.py for `docker stack deploy`; edit {source.name}.\n"
    target.write_text(header + yaml.safe_dump(stack, sort_keys=False, width=200))
    prometheus = target.parent / PROMETHEUS_SWARM
    prometheus.parent.mkdir(parents=True, exist_ok=True)
    config = prometheus_for_swarm(yaml.safe_load((INFRA / PROMETHEUS).read_text()))
    prometheus.write_text("# Rendered from prometheus.yml by infra/swarm.py (tasks.<service>: each Swarm task); "
                          "edit prometheus.yml.\n" + yaml.safe_dump(config, sort_keys=False, width=200))
    print(target)
    print(prometheus)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
