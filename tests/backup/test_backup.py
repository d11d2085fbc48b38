"""`python -m backup` end to end: real pg_dump/pg_restore/psql, moto's S3 server over HTTP, databases
filled through the API. Each test checks what an operator relies on: a backup restores to the same
inventory, and a bad object, a full target or a failed upload never costs data."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from typing import Any

import pytest

from tests.api.helpers import V1, login, new_category, new_item, new_location, withdraw
from tests.backup.conftest import (checksums, database, front_env, migrated, objects, query, run_backup,
                                   s3_client)
from tests.client import Api


def fill_through_the_api(url: str) -> dict[str, Any]:
    """Users, a catalogue, items, movements, alerts (one acknowledged): what a week of use leaves."""
    api = Api(url)
    try:
        return _fill(api)
    finally:
        api.close()


def _fill(api: Api) -> dict[str, Any]:
    reg = api.post(f"{V1}/auth/register", {"email": "owner@example.com", "password": "owner-pass-1",
                                           "full_name": "Owner"})
    assert reg.status == 201, reg.text
    boss = login(api, "owner@example.com", "owner-pass-1")["access_token"]
    made = api.post(f"{V1}/users", {"email": "clerk@example.com", "password": "clerk-pass-1",
                                    "full_name": "Clerk", "role": "staff"}, token=boss)
    assert made.status == 201, made.text
    clerk = login(api, "clerk@example.com", "clerk-pass-1")["access_token"]
    categories = [new_category(api, boss) for _ in range(3)]
    locations = [new_location(api, boss) for _ in range(2)]
    items = [new_item(api, boss, quantity=20 + i, low_stock_threshold=10, price="%d.25" % i,
                      category_id=categories[i % 3]["id"], location_id=locations[i % 2]["id"],
                      description=f"Shelf {i} — größe ½ ✓") for i in range(12)]
    for item in items[:6]:
        withdraw(api, clerk, item["id"], 16)  # below 10: a low-stock alert each
        res = api.post(f"{V1}/items/{item['id']}/restock", {"quantity": 3}, token=boss)
        assert res.status == 200, res.text
    alerts = api.get(f"{V1}/alerts?per_page=100", token=boss).json()["data"]
    assert len(alerts) == 6
    assert api.patch(f"{V1}/alerts/{alerts[0]['id']}/acknowledge", token=boss).status == 200
    return {"items": items, "alerts": alerts}


@pytest.fixture(scope="module")
def filled(services, tmp_path_factory) -> str:
    """A database filled through the API of a front of its own, which is stopped after (quiet)."""
    from localenv.front import Front

    url = migrated("ims_backup_source")
    front = Front(front_env(url), tmp_path_factory.mktemp("filling") / "front.log")
    try:
        fill_through_the_api(front.url)
    finally:
        front.stop()
    return url


def manifests(found: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    return {key: json.loads(body) for key, body in found.items() if key.endswith(".json")}


def ledger_replays(url: str) -> None:
    items = query(url, "SELECT id, quantity FROM items ORDER BY id")
    assert items
    for item in items:
        rows = query(url, "SELECT quantity_before, quantity_after FROM inventory_logs WHERE item_id = :id "
                          "ORDER BY id", id=item["id"])
        assert rows[0]["quantity_before"] == 0
        for before, after in zip(rows, rows[1:]):
            assert after["quantity_before"] == before["quantity_after"]
        assert rows[-1]["quantity_after"] == item["quantity"]


def test_a_backup_restores_to_the_same_inventory(filled, backup_env, s3_endpoint, bucket):
    before = checksums(filled)
    taken = run_backup({**backup_env, "DATABASE_URL": filled}, "take")
    assert taken.returncode == 0, taken.stderr
    found = objects(s3_endpoint, bucket)
    (manifest_key, manifest), = manifests(found).items()
    dump = found[manifest["key"]]
    assert manifest_key.startswith("nightly/ims-") and manifest["key"] == manifest_key[:-5] + ".dump"
    assert dump.startswith(b"PGDMP") and manifest["size"] == len(dump)
    assert manifest["sha256"] == hashlib.sha256(dump).hexdigest()
    assert manifest["tables"] == {table: count for table, (count, _) in before.items()}
    assert manifest["tables"]["items"] == 12 and manifest["tables"]["alerts"] == 6
    assert manifest["migrations"] == sorted(manifest["migrations"]) and manifest["last_migration"].startswith("0006")
    assert manifest["postgres"]["server"].startswith("16") and manifest["postgres"]["pg_dump"] >= 16
    runs = query(filled, "SELECT kind, succeeded, key, size_bytes FROM backup_runs")
    assert runs == [{"kind": "backup", "succeeded": True, "key": manifest["key"], "size_bytes": len(dump)}]

    database("ims_backup_source")  # the source is gone: dropped and re-created empty
    target = database("ims_backup_target")
    restored = run_backup({**backup_env, "DATABASE_URL": target}, "restore")
    assert restored.returncode == 0, restored.stderr
    assert f"restored {manifest['key']}" in restored.stdout and "verified" in restored.stdout

    after = checksums(target)
    for table in set(before) - {"events", "backup_runs"}:
        assert after[table] == before[table], table
    ledger_replays(target)
    # What the restore adds: the backup's own run (it postdates the dump), the restore, and the event
    # that tells the live feed to reload.
    runs = query(target, "SELECT kind, succeeded, key FROM backup_runs ORDER BY id")
    assert runs == [{"kind": "backup", "succeeded": True, "key": manifest["key"]},
                    {"kind": "restore", "succeeded": True, "key": manifest["key"]}]
    added = query(target, "SELECT type, data FROM events ORDER BY id DESC LIMIT 1")[0]
    assert added["type"] == "data_restored" and added["data"]["backup"] == manifest["key"]
    assert after["events"][0] == before["events"][0] + 1


@pytest.fixture
def small(services) -> str:
    """A migrated database holding one item and its ledger (written in SQL: no front needed)."""
    url = migrated("ims_backup_small")
    query(url, "WITH i AS (INSERT INTO items (name, sku, quantity) VALUES ('Bolt', 'B-1', 7) RETURNING id) "
               "INSERT INTO inventory_logs (item_id, action, quantity_before, quantity_after) "
               "SELECT id, 'create', 0, 7 FROM i RETURNING id")
    return url


def test_restore_refuses_a_database_that_is_not_empty_unless_forced(small, backup_env):
    assert run_backup({**backup_env, "DATABASE_URL": small}, "take").returncode == 0
    query(small, "UPDATE items SET name = 'Changed after the backup'")
    refused = run_backup({**backup_env, "DATABASE_URL": small}, "restore")
    assert refused.returncode == 1
    assert "not empty" in refused.stderr and "--force" in refused.stderr
    assert query(small, "SELECT name FROM items") == [{"name": "Changed after the backup"}]

    forced = run_backup({**backup_env, "DATABASE_URL": small}, "restore", "--force")
    assert forced.returncode == 0, forced.stderr
    assert query(small, "SELECT name FROM items") == [{"name": "Bolt"}]


@pytest.mark.parametrize("damage", ["flipped byte", "truncated"])
def test_a_corrupt_object_is_refused_and_nothing_is_restored(small, backup_env, s3_endpoint, bucket, damage):
    assert run_backup({**backup_env, "DATABASE_URL": small}, "take").returncode == 0
    (key,) = [k for k in objects(s3_endpoint, bucket) if k.endswith(".dump")]
    s3 = s3_client(s3_endpoint)
    body = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    if damage == "truncated":
        del body[len(body) // 2:]
    else:
        body[len(body) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body))

    target = database("ims_backup_target")
    refused = run_backup({**backup_env, "DATABASE_URL": target}, "restore")
    assert refused.returncode == 1
    assert "corrupt or truncated" in refused.stderr and "nothing was restored" in refused.stderr
    assert query(target, "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'") == [{"n": 0}]
    # The failed restore is recorded where it can be: not in an empty target without the table.


def test_a_forced_restore_that_fails_leaves_the_target_as_it_was(small, backup_env, s3_endpoint, bucket):
    """The forced drop and the restore are one transaction (psql --single-transaction): when the restore
    fails (here the drop cannot get its lock within lock_timeout, another session holding the table),
    the target keeps what it had."""
    assert run_backup({**backup_env, "DATABASE_URL": small}, "take").returncode == 0
    target = migrated("ims_backup_target")
    query(target, "INSERT INTO categories (name) VALUES ('Kept')")
    from shared import db

    holder = db.Conn(target, prepared=False)
    try:
        holder.simple("BEGIN")
        holder.simple("LOCK TABLE categories IN ACCESS SHARE MODE")
        failed = run_backup({**backup_env, "DATABASE_URL": target, "PGOPTIONS": "-c lock_timeout=500"},
                            "restore", "--force")
    finally:
        holder.close()
    assert failed.returncode == 1 and "nothing was restored" in failed.stderr, failed.stderr
    assert query(target, "SELECT name FROM categories") == [{"name": "Kept"}]


def test_two_backups_at_once_do_not_clobber_each_other(small, backup_env, s3_endpoint, bucket):
    """Each gets a key of its own and completes. Both are of the same day, so the policy (the newest of
    each day) keeps the later one: it must be whole, and nothing half-written may be left behind."""
    results: list[subprocess.CompletedProcess[str]] = []
    env = {**backup_env, "DATABASE_URL": small}
    threads = [threading.Thread(target=lambda: results.append(run_backup(env, "take"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    keys = sorted(r.stdout.split()[1].rstrip(":") for r in results)
    assert len(set(keys)) == 2 and all(key.startswith("nightly/ims-") for key in keys)
    found = objects(s3_endpoint, bucket)
    kept = keys[1:] if keys[0][12:20] == keys[1][12:20] else keys  # either side of midnight UTC: both
    assert set(found) == {name for key in kept for name in (key, key[:-5] + ".json")}
    for manifest in manifests(found).values():
        assert hashlib.sha256(found[manifest["key"]]).hexdigest() == manifest["sha256"]
    target = database("ims_backup_target")
    again = run_backup({**backup_env, "DATABASE_URL": target}, "restore", "--key", keys[1])
    assert again.returncode == 0, again.stderr


def test_settings_are_checked_before_anything_runs(small, backup_env):
    bad = run_backup({**backup_env, "DATABASE_URL": small, "BACKUP_URL": "https://example.com/x",
                      "BACKUP_SSE": "rot13", "BACKUP_KEEP_DAILY": "-1"}, "take")
    assert bad.returncode == 2
    for name in ("BACKUP_URL", "BACKUP_SSE", "BACKUP_KEEP_DAILY"):
        assert name in bad.stderr


def test_a_server_side_encrypted_backup_restores(small, backup_env, s3_endpoint, bucket):
    env = {**backup_env, "DATABASE_URL": small, "BACKUP_SSE": "AES256"}
    assert run_backup(env, "take").returncode == 0
    s3 = s3_client(s3_endpoint)
    for key in objects(s3_endpoint, bucket):
        assert s3.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"
    target = database("ims_backup_target")
    assert run_backup({**env, "DATABASE_URL": target}, "restore").returncode == 0
    assert query(target, "SELECT sku, quantity FROM items") == [{"sku": "B-1", "quantity": 7}]


@pytest.fixture
def bulky(small) -> str:
    """`small` plus 12.8 MB of hex text: a dump of 7.5 MB, two parts of 5 MiB."""
    query(small, "CREATE TABLE filler AS SELECT md5(i::text) || md5((i * 7)::text) AS t "
                 "FROM generate_series(1, 200000) i; SELECT 1 AS done")
    return small


def test_an_upload_that_fails_half_way_leaves_no_backup_and_prunes_nothing(bulky, backup_env, s3_endpoint,
                                                                            bucket):
    from datetime import datetime, timedelta, timezone

    from tests.backup.conftest import CuttingProxy, plant

    now = datetime.now(timezone.utc)
    history = {plant(s3_endpoint, bucket, "nightly/", now - timedelta(days=d)) for d in range(1, 15)}
    before = set(objects(s3_endpoint, bucket))
    proxy = CuttingProxy(int(s3_endpoint.rsplit(":", 1)[1]), budget=6 * 1024 * 1024)  # the 2nd part dies
    try:
        failed = run_backup({**backup_env, "DATABASE_URL": bulky, "AWS_ENDPOINT_URL": proxy.url,
                             "BACKUP_PART_SIZE_MB": "5"}, "take")
    finally:
        proxy.close()
    assert failed.returncode == 1 and "backup failed" in failed.stderr, failed.stderr
    assert set(objects(s3_endpoint, bucket)) == before  # no dump, no manifest, nothing pruned
    s3 = s3_client(s3_endpoint)
    assert len(before) == 28 and all(key in before for key in history)
    runs = query(bulky, "SELECT succeeded, error FROM backup_runs")
    assert len(runs) == 1 and runs[0]["succeeded"] is False and runs[0]["error"]
    # The same run with the network intact stores a backup of two parts, then prunes the history
    # to the policy: 7 days (today's new one and 6) and the newest of 4 ISO weeks.
    done = run_backup({**backup_env, "DATABASE_URL": bulky, "BACKUP_PART_SIZE_MB": "5"}, "take")
    assert done.returncode == 0, done.stderr
    (manifest,) = [json.loads(b) for k, b in objects(s3_endpoint, bucket).items()
                   if k.endswith(".json") and b != b'{"planted": true}']
    assert manifest["size"] > 5 * 1024 * 1024
    assert s3.head_object(Bucket=bucket, Key=manifest["key"])["ETag"].endswith('-2"')  # a two-part upload
    assert "pruned" in done.stdout and 7 <= len(manifests(objects(s3_endpoint, bucket))) <= 10


def test_the_job_prunes_a_60_day_history_to_exactly_the_policy(small, backup_env, s3_endpoint, bucket,
                                                                monkeypatch):
    """One backup a day from 2026-10-02 to 11-29, then the job runs on Monday 2026-11-30 (ISO week 49):
    it keeps 11-24 … 11-30 (7 days) and the newest of weeks 47 and 46 (Sunday 11-22 and 11-15); week 48's
    newest (11-29) is already a daily one. An unfinished upload of 10 days ago goes too."""
    from datetime import datetime, timedelta, timezone

    from backup import config, take
    from backup.store import Store
    from tests.backup.conftest import plant

    now = datetime(2026, 11, 30, 3, 17, tzinfo=timezone.utc)
    planted = {(now - timedelta(days=d)).date(): plant(s3_endpoint, bucket, "nightly/", now - timedelta(days=d))
               for d in range(1, 60)}
    orphan = plant(s3_endpoint, bucket, "nightly/", now - timedelta(days=10, hours=1), complete=False)
    for name, value in {**backup_env, "DATABASE_URL": small}.items():
        monkeypatch.setenv(name, value)
    conf = config.load()
    store = Store(conf)
    manifest = take.take(conf, store, now)
    pruned = take.prune(conf, store, now)

    day = lambda d: datetime(2026, 11, d).date()  # noqa: E731
    kept = {planted[day(d)] for d in (15, 22, 24, 25, 26, 27, 28, 29)} | {manifest["key"]}
    assert {b.key for b in store.list()} == kept
    assert {b.key for b in pruned} == (set(planted.values()) | {orphan}) - kept
    assert take.prune(conf, store, now) == []  # nothing more on a second pass


def test_metrics_show_the_last_successful_backup_and_the_last_failure(api, services, backup_env):
    """ops/metrics reads backup_runs, which every run writes (here: the session's own database)."""
    from tests.functions.test_metrics import scrape, values

    env = {**backup_env, "DATABASE_URL": services["DATABASE_URL"]}
    done = run_backup(env, "take")
    assert done.returncode == 0, done.stderr
    size = int(done.stdout.split()[2])
    last = query(services["DATABASE_URL"], "SELECT extract(epoch FROM finished_at) AS t FROM backup_runs "
                                            "WHERE succeeded ORDER BY id DESC LIMIT 1")[0]["t"]
    gauges = values(scrape(api)[1])
    assert gauges["ims_backup_last_size_bytes"] == size
    assert gauges["ims_backup_last_success_timestamp_seconds"] == pytest.approx(float(last))

    failed = run_backup({**env, "BACKUP_URL": "s3://no-such-bucket-for-ims/x"}, "take")
    assert failed.returncode == 1
    after = values(scrape(api)[1])
    assert after["ims_backup_last_success_timestamp_seconds"] == gauges["ims_backup_last_success_timestamp_seconds"]
    assert after["ims_backup_last_failure_timestamp_seconds"] >= after["ims_backup_last_success_timestamp_seconds"]


def test_a_restore_that_does_not_match_its_manifest_is_rolled_back(small, backup_env, s3_endpoint, bucket):
    """The checks run inside the restore's transaction: a difference (here a manifest whose count for
    items was altered) leaves even a forced target as it was."""
    assert run_backup({**backup_env, "DATABASE_URL": small}, "take").returncode == 0
    (key,) = [k for k in objects(s3_endpoint, bucket) if k.endswith(".json")]
    s3 = s3_client(s3_endpoint)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    manifest["tables"]["items"] += 1
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
    query(small, "UPDATE items SET name = 'Kept'")

    refused = run_backup({**backup_env, "DATABASE_URL": small}, "restore", "--force")
    assert refused.returncode == 1
    assert "table items: 1 rows, the manifest says 2" in refused.stderr and "nothing was restored" in refused.stderr
    assert query(small, "SELECT name FROM items") == [{"name": "Kept"}]


def test_a_restore_killed_half_way_leaves_the_target_as_it_was(bulky, backup_env):
    """COMMIT is written only at the end: the restoring process dying mid-copy (a node drained, an OOM
    kill) ends psql's input without it, and PostgreSQL rolls the forced drop back with the rest."""
    import os
    import signal
    import time

    from localenv import process
    from tests.backup.conftest import ROOT

    assert run_backup({**backup_env, "DATABASE_URL": bulky}, "take").returncode == 0
    query(bulky, "UPDATE items SET name = 'Kept'")
    child = process.child_env({**backup_env, "DATABASE_URL": bulky})
    child.pop("DATABASE_DIRECT_URL", None)
    restoring = subprocess.Popen([sys.executable, "-m", "backup", "restore", "--force"], cwd=ROOT, env=child,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    copying = "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'psql' AND query LIKE 'COPY%'"
    try:
        deadline = time.monotonic() + 60
        while query(bulky, copying)[0]["n"] == 0:
            assert restoring.poll() is None and time.monotonic() < deadline, "the restore never reached COPY"
            time.sleep(0.005)
        os.kill(restoring.pid, signal.SIGKILL)  # the Python process only: psql sees its input end
    finally:
        restoring.wait(30)
    gone = "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'psql'"
    deadline = time.monotonic() + 30
    while query(bulky, gone)[0]["n"]:
        assert time.monotonic() < deadline, "psql did not end"
        time.sleep(0.05)
    assert query(bulky, "SELECT name FROM items") == [{"name": "Kept"}]
    assert query(bulky, "SELECT count(*) AS n FROM filler") == [{"n": 200000}]
