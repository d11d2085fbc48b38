"""infra/monitoring/: the Prometheus configuration and rules pass promtool (config, rules, the rules' unit
tests), every PromQL expression of the rules and the Grafana dashboards parses, and every metric they
name is one a running IMS exposes: a real front (gateway.serve) and a real realtime server are started
and scraped here, as Prometheus would, with the bearer token. Needs promtool (Debian's `prometheus`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pg8000.native
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from localenv import process, scratch
from localenv.front import Front
from realtime import config as realtime_config
from realtime import launch
from shared.db import connect_args
from tests.conftest import ROOT
from tests.infra.conftest import http_get

MONITORING = ROOT / "infra" / "monitoring"
RULES = sorted((MONITORING / "rules").glob("*.yml"))
RULE_TESTS = MONITORING / "tests" / "ims_test.yml"
DASHBOARDS = MONITORING / "grafana" / "dashboards"
DASHBOARD_FILES = ("system-health.json", "inventory-overview.json", "api-performance.json",
                   "websocket-connections.json")
TOKEN = "monitoring-test-token"
API_KEY = "0c6b8c1e-2a1f-4f8e-9d4c-3b1f0a9e8d7c:monitoring-test-key"

# Grafana's variables, replaced by what Grafana would put there before an expression reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "6h"}
# Words of PromQL that are not metric names, and series Prometheus makes itself.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan"}
PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE"}


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: install Debian's `prometheus` package"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules() -> list[dict[str, Any]]:
    return [rule for path in RULES for group in load(path)["groups"] for rule in group["rules"]]


def dashboards() -> dict[str, dict[str, Any]]:
    return {name: json.loads((DASHBOARDS / name).read_text()) for name in DASHBOARD_FILES}


def dashboard_exprs() -> list[str]:
    """Every query of every panel, Grafana's variables substituted."""
    exprs = []
    for board in dashboards().values():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                exprs.append(expr)
    return exprs


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects. PromQL has no parser in Python: strip what is not a name
    (strings, label matchers, ranges, grouping labels, numbers), then keep the identifiers that are not
    function calls or keywords. promtool has parsed every expression first, so the input is valid PromQL."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\b\d+(\.\d+)?([eE][+-]?\d+)?\b", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[match.end():].lstrip()
        if not following.startswith("(") and match.group() not in KEYWORDS:
            names.add(match.group())
    return names


def test_metric_names_finds_the_selected_series_only():
    """The extractor itself, on the shapes the rules and dashboards use."""
    expr = ('histogram_quantile(0.95, sum by (route, le) (rate(http_request_duration_seconds_bucket'
            '{job="ims-api",route=~"items/(a|b)"}[5m]))) > 0.5 and on() max(up{job="x"}) == 1 '
            'or vector(0) unless absent(ims_items) / job:http_request_errors:ratio_rate5m > (14.4 * 0.001)')
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "up", "ims_items",
                                  "job:http_request_errors:ratio_rate5m"}


# --- promtool --------------------------------------------------------------------------------------

def test_the_prometheus_config_and_the_rules_it_loads_are_valid(tmp_path):
    """`promtool check config` checks the rule files the config names, and that the token file exists: a
    copy of the config points at a token file here and at the rules by absolute path."""
    config = load(MONITORING / "prometheus.yml")
    (tmp_path / "token").write_text(TOKEN)
    for job in config["scrape_configs"]:
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(tmp_path / "token")
    config["rule_files"] = [str(MONITORING / pattern) for pattern in config["rule_files"]]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    checked = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", checked.stdout))
    assert found == len(rules()), checked.stdout  # every rule file was loaded


def test_the_scrape_config_matches_where_ims_serves_its_metrics():
    """The api's metrics at /api/v1 + project.yml's GET /metrics, realtime's on its default port, both
    with the METRICS_TOKEN as a bearer token from a file (no secret in the config)."""
    jobs = {job["job_name"]: job for job in load(MONITORING / "prometheus.yml")["scrape_configs"]}
    manifest = (ROOT / "project.yml").read_text()
    assert "ims-route: GET /metrics" in manifest
    assert jobs["ims-api"]["metrics_path"] == "/api/v1/metrics"
    assert jobs["ims-realtime"]["metrics_path"] == "/metrics"
    # Every replica a target of its own, found in DNS: never a name balanced over replicas (the counters of
    # a different replica at each scrape would look like resets).
    assert jobs["ims-api"]["dns_sd_configs"] == [{"names": ["api"], "type": "A", "port": 8000,
                                                  "refresh_interval": "30s"}]
    assert jobs["ims-realtime"]["dns_sd_configs"] == [{"names": ["realtime"], "type": "A",
                                                       "port": realtime_config.Config().port,
                                                       "refresh_interval": "30s"}]
    assert not any("static_configs" in jobs[name] for name in ("ims-api", "ims-realtime"))
    for name in ("ims-api", "ims-realtime"):
        auth = jobs[name]["authorization"]
        assert auth.get("type", "Bearer") == "Bearer" and set(auth) <= {"type", "credentials_file"}, auth


def test_the_rules_are_valid():
    checked = promtool("check", "rules", *map(str, RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_unit_tests_pass():
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_is_tested_firing_and_not_firing_and_says_what_it_means():
    """Each alert: a `for`, a severity, a summary and a description; at least one unit test where it fires
    and one where it does not."""
    alerts = {rule["alert"]: rule for rule in rules() if "alert" in rule}
    assert {"HighErrorRate", "HighLatency", "LowStockItemsHigh", "BackupTooOld", "BackupFailing",
            "ErrorBudgetBurnFast", "ErrorBudgetBurnSlow", "OutboxBacklog", "LiveFeedClientsDropped",
            "LiveFeedLagging"} <= set(alerts)
    for name, rule in alerts.items():
        assert rule.get("for") and rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"].get("summary") and rule["annotations"].get("description"), name
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in load(RULE_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert set(alerts) - fired == set(), "alerts never shown firing"
    assert set(alerts) - quiet == set(), "alerts never shown quiet"


def test_every_dashboard_expression_parses(tmp_path):
    """promtool parses rule files, not bare expressions: each dashboard query becomes a recording rule."""
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    assert not [e for e in exprs if "$" in e], "a Grafana variable is left unsubstituted"
    group = {"name": "dashboards", "rules": [{"record": f"dashboard:query_{i}", "expr": e}
                                            for i, e in enumerate(exprs)]}
    (tmp_path / "dashboards.yml").write_text(yaml.safe_dump({"groups": [group]}))
    checked = promtool("check", "rules", str(tmp_path / "dashboards.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- Grafana as code -------------------------------------------------------------------------------

def test_the_dashboards_read_the_provisioned_datasource():
    datasource = load(MONITORING / "grafana/provisioning/datasources/prometheus.yml")["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and datasource["type"] == "prometheus"
    provider = load(MONITORING / "grafana/provisioning/dashboards/ims.yml")["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"]
    boards = dashboards()
    assert len({board["uid"] for board in boards.values()}) == len(DASHBOARD_FILES)
    for name, board in boards.items():
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)) >= 4, name
        for panel in board["panels"]:
            refs = [panel["datasource"], *(target["datasource"] for target in panel["targets"])]
            assert all(ref == {"type": "prometheus", "uid": datasource["uid"]} for ref in refs), (name, panel["title"])


# --- against a running IMS -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def running(services: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A front and a realtime server on a fresh migrated database, METRICS_TOKEN set, one successful and
    one failed backup run recorded (the backup gauges are absent until then)."""
    url = scratch.fresh_database(services["DATABASE_URL"], "ims_test_monitoring")
    env = process.child_env({"DATABASE_URL": url, "IMS_WORKERS": "2", "__OW_API_KEY": API_KEY,
                             "METRICS_TOKEN": TOKEN})
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    migrated = subprocess.run([sys.executable, "-m", "shared.migrate"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    conn = pg8000.native.Connection(**connect_args(url))
    try:
        conn.run("INSERT INTO backup_runs (kind, started_at, finished_at, succeeded, key, size_bytes, error) VALUES "
                 "('backup', now() - interval '1 day', now() - interval '1 day', true, 'k', 1234, NULL), "
                 "('backup', now() - interval '1 hour', now() - interval '1 hour', false, NULL, NULL, 'boom')")
    finally:
        conn.close()
    front = Front(env, tmp_path_factory.mktemp("front") / "front.log")
    try:
        feed = launch.start({**env, "IMS_WS_PORT": "0", "IMS_WS_HOST": "127.0.0.1", "IMS_LOG_LEVEL": "WARNING"})
        try:
            yield {"api": front.url, "realtime": feed.http_url}
        finally:
            feed.stop()
    finally:
        assert front.stop() == 0, front.text()


def scrape(running: dict[str, str]) -> set[str]:
    """The sample names both targets expose, read at the paths prometheus.yml scrapes, with the token."""
    jobs = {job["job_name"]: job for job in load(MONITORING / "prometheus.yml")["scrape_configs"]}
    names = set()
    for job, base in (("ims-api", running["api"]), ("ims-realtime", running["realtime"])):
        status, text = http_get(base + jobs[job]["metrics_path"], TOKEN)
        assert status == 200, (job, status, text)
        names |= {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    return names


def test_the_metrics_want_the_bearer_token(running):
    """Why prometheus.yml sends a credentials file: with METRICS_TOKEN set, neither target answers without it."""
    assert http_get(running["api"] + "/api/v1/metrics")[0] == 401
    assert http_get(running["realtime"] + "/metrics")[0] == 401
    assert http_get(running["api"] + "/api/v1/metrics", "wrong")[0] == 401


def test_every_metric_the_rules_and_dashboards_name_is_exposed_and_every_exposed_one_is_watched(running):
    """After a little traffic (so the request histogram has samples), a scrape of both targets has every
    series the rules and dashboards select, except the rules' own recordings and Prometheus's `up` and
    ALERTS; and nothing IMS exposes is left off every rule and dashboard."""
    for path in ("/api/v1/health", "/api/v1/items", "/api/v1/no-such-route"):
        http_get(running["api"] + path)
    exposed = scrape(running)
    assert {"http_request_duration_seconds_bucket", "ims_realtime_connections",
            "ims_backup_last_failure_timestamp_seconds"} <= exposed
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    exprs = [rule["expr"] for rule in rules()] + dashboard_exprs()
    named = set().union(*map(metric_names, exprs))
    assert named - recorded - PROMETHEUS_OWN - exposed == set(), "named in rules or dashboards, not exposed"
    assert {name for name in exposed if not name.endswith("_created")} - named == set(), "exposed, never watched"
