"""infra/backup/ and the `backup` service of infra/compose.yaml: the daily backup as Kubernetes, Compose,
App Platform and cron run it (README, "Scheduling backups"), checked offline. Each runs `python -m backup` at 03:17 UTC (the cron lines read by the gateway's
own cron parser), never two at once, with its settings by reference only. The crontab's command line runs
for real under /bin/sh, with make and flock, in a scratch checkout; only syslog is stood in for, by a
`logger` on PATH that writes to a file. (Checking the Compose file against the Compose specification
belongs with the infra checks.)"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.openwhisk import cron
from tests.conftest import ROOT

BACKUP = ROOT / "infra" / "backup"
COMMAND = ["python", "-m", "backup"]
# Settings that are credentials (a database URL carries its password): never written into these files.
SECRETS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL", "DATABASE_DIRECT_URL"}


def _yaml(name: str, directory: Path = BACKUP) -> dict[str, Any]:
    loaded = yaml.safe_load((directory / name).read_text())
    assert isinstance(loaded, dict), f"{name}: one YAML mapping expected"
    return loaded


def _fires_daily_at_0317_utc(expression: str) -> bool:
    """Eight fire times from a Thursday before a month's end: every day, at 03:17, none skipped."""
    start = dt.datetime(2026, 2, 26, 12, 0, tzinfo=dt.UTC)
    schedule, times, t = cron.Cron.parse(expression), [], start
    for _ in range(8):
        t = schedule.next_after(t)
        times.append(t)
    first = dt.datetime(2026, 2, 27, 3, 17, tzinfo=dt.UTC)
    return times == [first + dt.timedelta(days=i) for i in range(8)]


def test_the_backup_package_and_make_target_exist():
    """Every schedule here runs `python -m backup` or `make backup`: both must be there to run."""
    assert (ROOT / "backup" / "__main__.py").is_file()
    assert re.search(r"^backup:", (ROOT / "Makefile").read_text(), re.MULTILINE)


# Kubernetes

CRONJOB = _yaml("cronjob.yaml")
JOB = CRONJOB["spec"]["jobTemplate"]["spec"]
POD = JOB["template"]["spec"]


def test_cronjob_runs_python_m_backup_daily_at_0317_utc_one_at_a_time():
    assert (CRONJOB["apiVersion"], CRONJOB["kind"]) == ("batch/v1", "CronJob")
    assert CRONJOB["metadata"]["namespace"] == "ims"
    spec = CRONJOB["spec"]
    assert _fires_daily_at_0317_utc(spec["schedule"])
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    # Under 10 s the controller may never start a run; a day or more would start yesterday's late.
    assert 10 <= spec["startingDeadlineSeconds"] < 86400
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    [container] = POD["containers"]
    assert container["command"] == COMMAND and "args" not in container
    assert container["image"].split("/")[-1].split(":")[0] == "ims-jobs"


def test_cronjob_job_is_bounded_and_retried_a_few_times():
    """A hung run is ended before the next day's is due, so Forbid never skips a day for it."""
    assert 0 < JOB["backoffLimit"] <= 6
    assert 0 < JOB["activeDeadlineSeconds"] < 86400 - CRONJOB["spec"]["startingDeadlineSeconds"]
    assert JOB["ttlSecondsAfterFinished"] > 0
    assert POD["restartPolicy"] in ("Never", "OnFailure")


def test_cronjob_pod_runs_locked_down():
    pod = POD["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert POD["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in POD["volumes"]}
    for container in POD["containers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert sc.get("runAsNonRoot", True) is True and sc.get("privileged", False) is False
        # A read-only root needs somewhere to write: /tmp from an emptyDir.
        [tmp] = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert "emptyDir" in volumes[tmp["name"]]
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
        assert "memory" in container["resources"]["limits"]


def test_cronjob_settings_come_from_the_secret_and_configmap():
    [container] = POD["containers"]
    sources = {(kind, ref["name"]) for source in container["envFrom"] for kind, ref in source.items()}
    assert ("secretRef", "ims-secrets") in sources
    assert ("secretRef", "ims-backup") in sources  # the storage's keys, a Secret only this job reads
    assert any(kind == "configMapRef" for kind, _ in sources)
    for var in container.get("env", []):
        if var["name"] in SECRETS:
            assert "value" not in var and "secretKeyRef" in var["valueFrom"], var


def test_cronjob_placeholders_are_only_the_image_ones():
    """The README renders it with envsubst '$IMS_REGISTRY $IMS_VERSION': nothing else may be left as ${…}."""
    text = "\n".join(line for line in (BACKUP / "cronjob.yaml").read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    assert set(re.findall(r"\$\{?(\w+)", text)) == {"IMS_REGISTRY", "IMS_VERSION"}


# Docker Compose

COMPOSE = _yaml("compose.yaml", ROOT / "infra")


def test_compose_backup_service_runs_once_on_demand_with_settings_from_an_env_file():
    service = COMPOSE["services"]["backup"]
    assert service["profiles"] == ["backup"]  # `docker compose up` leaves it alone
    assert service["command"] == COMMAND
    assert service["image"].split("/")[-1].split(":")[0] == "ims-jobs"
    assert service["restart"] == "no"
    assert service["env_file"]
    assert not SECRETS & set(service.get("environment", {}))
    assert "ports" not in service


def test_compose_backup_service_runs_locked_down():
    service = COMPOSE["services"]["backup"]
    assert service["read_only"] is True
    assert any(entry.split(":")[0] == "/tmp" for entry in service["tmpfs"])
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["user"].split(":")[0] not in ("", "0", "root")


# DigitalOcean App Platform

DO_APP = _yaml("do-app-job.yaml")


def test_app_platform_job_is_scheduled_daily_at_0317_utc():
    [job] = DO_APP["jobs"]
    assert job["kind"] == "SCHEDULED"
    assert _fires_daily_at_0317_utc(job["schedule"]["cron"])
    assert job["schedule"]["time_zone"] == "UTC"
    assert job["run_command"].split() == COMMAND
    assert job["image"]["repository"] == "ims-jobs"
    assert job["image"]["registry_type"] == "DOCR" and "registry" not in job["image"]  # DOCR: no registry
    hours = re.fullmatch(r"(\d+)h", job["timeout"])
    assert hours and 0 < int(hours[1]) < 24
    assert {"rule": "JOB_INVOCATION_FAILED"} in job["alerts"]


def test_app_platform_secrets_are_secret_and_filled_in_at_submission():
    [job] = DO_APP["jobs"]
    envs = {e["key"]: e for e in job["envs"]}
    assert "BACKUP_URL" in envs and envs.keys() & {"DATABASE_URL", "DATABASE_DIRECT_URL"}
    for key, env in envs.items():
        assert env["scope"] == "RUN_TIME"
        if key in SECRETS:
            # envsubst puts the operator's value in at submission; App Platform encrypts it then.
            assert env["type"] == "SECRET" and env["value"] == f"${{{key}}}", env


def test_app_platform_spec_rendered_with_awkward_values_keeps_them_whole():
    """What envsubst makes of it is still the same spec, whatever the values hold (': ', ' #', '@', '/+=')."""
    text = (BACKUP / "do-app-job.yaml").read_text()
    names = set(re.findall(r"\$\{(\w+)\}", text))
    values = {name: f"@{name.lower()}: a #b/c+d=" for name in names}
    rendered = yaml.safe_load(re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], text))
    [job] = rendered["jobs"]
    envs = {e["key"]: e["value"] for e in job["envs"]}
    assert {key: envs[key] for key in envs.keys() & names} == {key: values[key] for key in envs.keys() & names}
    assert job["image"]["tag"] == values["IMS_VERSION"]
    assert names - envs.keys() == {"IMS_VERSION"}  # every placeholder is a setting, or the image's tag


# One host: cron

def _crontab() -> tuple[dict[str, str], list[str]]:
    """The crontab's variable assignments and its job lines."""
    assignments, jobs = {}, []
    for line in (BACKUP / "crontab").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.fullmatch(r"[A-Z_]+=\S*", line):
            name, _, value = line.partition("=")
            assignments[name] = value
        else:
            jobs.append(line)
    return assignments, jobs


def test_crontab_runs_make_backup_daily_at_0317_utc_under_flock():
    assignments, [line] = _crontab()
    fields = line.split(None, 5)
    assert _fires_daily_at_0317_utc(" ".join(fields[:5]))
    assert assignments["CRON_TZ"] == "UTC"
    command = fields[5]
    assert "%" not in command  # cron would cut the command there
    assert "make backup" in command and "flock -n" in command and "| logger -t ims-backup" in command


@pytest.fixture
def host(tmp_path: Path) -> dict[str, Any]:
    """A scratch checkout whose `make backup` reports its settings, the settings file, and a `logger` that
    appends its tag and input to a file."""
    checkout, bin_dir = tmp_path / "ims", tmp_path / "bin"
    checkout.mkdir()
    bin_dir.mkdir()
    (checkout / "Makefile").write_text('backup:\n\t@echo "dumping to $$BACKUP_URL"\n\t@test -z "$$FAIL"\n')
    settings = tmp_path / "backup.env"
    settings.write_text("BACKUP_URL='s3://ims-backups/daily'\nAWS_SECRET_ACCESS_KEY='not-a-real-key'\n")
    log = tmp_path / "syslog"
    logger = bin_dir / "logger"
    logger.write_text(f'#!/bin/sh\necho "logger $*" >> {log}\ncat >> {log}\n')
    logger.chmod(0o755)
    assignments, [line] = _crontab()
    command = (line.split(None, 5)[5].replace("/srv/ims", str(checkout))
               .replace("/etc/ims/backup.env", str(settings))
               .replace("/run/lock/ims-backup.lock", str(tmp_path / "backup.lock")))
    env = {**assignments, "PATH": f"{bin_dir}:{assignments['PATH']}", "HOME": str(tmp_path)}
    return {"command": command, "env": env, "log": log, "settings": settings, "lock": tmp_path / "backup.lock"}


def _run_cron_line(host: dict[str, Any]) -> str:
    done = subprocess.run([host["env"].get("SHELL", "/bin/sh"), "-c", host["command"]], env=host["env"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout == done.stderr == ""  # everything went to the log, nothing to cron's mail
    return host["log"].read_text()


def test_crontab_line_runs_make_backup_with_the_settings_file_and_logs_it(host):
    log = _run_cron_line(host)
    assert log.splitlines() == ["logger -t ims-backup", "dumping to s3://ims-backups/daily"]


def test_crontab_line_logs_a_failed_backup(host):
    host["settings"].write_text(host["settings"].read_text() + "FAIL=yes\n")
    log = _run_cron_line(host)
    assert "dumping to s3://ims-backups/daily" in log
    assert "ims backup failed: exit status 2" in log  # make's status when its recipe fails


def test_crontab_line_gives_up_while_a_backup_is_running(host):
    """flock -n: a run still holding the lock makes the next one stop at once (75), without backing up."""
    with open(host["lock"], "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        log = _run_cron_line(host)
    assert "dumping" not in log
    assert "ims backup failed: exit status 75" in log


def test_no_file_carries_a_credential():
    """Secret settings appear only as names or references: no KEY=value, no password in a URL."""
    for path in sorted(BACKUP.iterdir()):
        text = path.read_text()
        assert not re.search(r"postgres(?:ql)?://[^/\s:@]+:[^@\s]+@", text), path.name
        for key, value in re.findall(r"\b(" + "|".join(sorted(SECRETS)) + r")\s*[:=]\s*(\S+)", text):
            assert value.startswith("$") or value.startswith("…"), f"{path.name}: {key}={value}"
