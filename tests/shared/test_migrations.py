"""The migration runner (shared/migrate.py) and the schema's own guarantees, at the SQL level."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from shared import db
from shared.migrate import MIGRATIONS_DIR, MigrationError, migrate
from tests.conftest import unique


def recorded() -> list[dict[str, Any]]:
    return db.query("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version")


def table_exists(name: str) -> bool:
    return db.one("SELECT to_regclass(:name) IS NOT NULL AS ok", name=name)["ok"]


@pytest.fixture
def copy_of_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


def test_every_file_is_recorded(services):
    versions = [r["version"] for r in recorded()]
    assert versions == sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))


def test_migrating_again_applies_nothing(services):
    before = recorded()
    assert migrate() == []
    assert recorded() == before


def test_an_edited_applied_migration_is_an_error_and_changes_nothing(services, copy_of_migrations):
    first = sorted(copy_of_migrations.glob("*.sql"))[0]
    probe = f"test_probe_{uuid.uuid4().hex[:8]}"
    # The edit would create a table if it ran; and a new file after it must not run either.
    first.write_text(first.read_text() + f"\nCREATE TABLE {probe} ();\n")
    (copy_of_migrations / f"9999_{probe}.sql").write_text(f"CREATE TABLE {probe}_new ();\n")
    before = recorded()
    with pytest.raises(MigrationError, match=first.stem):
        migrate(copy_of_migrations)
    assert recorded() == before
    assert not table_exists(probe) and not table_exists(f"{probe}_new")


def test_a_new_migration_is_applied_once(services, copy_of_migrations):
    probe = f"test_probe_{uuid.uuid4().hex[:8]}"
    version = f"9999_{probe}"
    (copy_of_migrations / f"{version}.sql").write_text(f"CREATE TABLE IF NOT EXISTS {probe} (id integer);\n")
    try:
        assert migrate(copy_of_migrations) == [version]
        assert table_exists(probe)
        assert recorded()[-1]["version"] == version
        assert migrate(copy_of_migrations) == []
        assert [r["version"] for r in recorded()].count(version) == 1
    finally:
        db.execute(f"DROP TABLE IF EXISTS {probe}")
        db.execute("DELETE FROM schema_migrations WHERE version = :v", v=version)
    assert migrate() == []


def test_a_failing_migration_is_rolled_back_and_not_recorded(services, copy_of_migrations):
    probe = f"test_probe_{uuid.uuid4().hex[:8]}"
    version = f"9999_{probe}"
    (copy_of_migrations / f"{version}.sql").write_text(
        f"CREATE TABLE {probe} (id integer);\nSELECT no_such_function();\n")
    try:
        with pytest.raises(db.Error):
            migrate(copy_of_migrations)
        assert not table_exists(probe)
        assert version not in [r["version"] for r in recorded()]
        assert migrate() == []  # the runner and its connection are still fine
    finally:
        db.execute(f"DROP TABLE IF EXISTS {probe}")
        db.execute("DELETE FROM schema_migrations WHERE version = :v", v=version)


# --- constraints the schema enforces on its own -------------------------------------------------

def _refusal(sql: str, **params: Any) -> db.Error:
    """The typed error shared.db raises for a statement the schema refuses."""
    with pytest.raises(db.Error) as caught:
        db.execute(sql, **params)
    return caught.value


def test_two_migrations_at_once_on_a_fresh_database_apply_every_version_exactly_once(services):
    """Two starters race on an empty database (each on its own connection): between them, every
    version is applied once, none twice, and all are recorded."""
    import threading

    import pg8000.native

    from localenv import scratch
    from shared.migrate import pending_files
    from tests.conftest import settings_env

    url = scratch.fresh_database(services["DATABASE_URL"], "ims_migrate_race")
    start = threading.Barrier(2)
    applied: list[list[str]] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(10)
            applied.append(migrate())
        except BaseException as exc:  # reported below, on the test's thread
            failures.append(exc)

    with settings_env(DATABASE_DIRECT_URL=url):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert not failures and len(applied) == 2
    versions = [version for version, _, _ in pending_files()]
    assert sorted(applied[0] + applied[1]) == versions
    check = pg8000.native.Connection(**db.connect_args(url))
    try:
        assert [r[0] for r in check.run("SELECT version FROM schema_migrations ORDER BY version")] == versions
    finally:
        check.close()


def test_negative_quantity_is_rejected_by_the_check(services, item):
    refusal = _refusal("UPDATE items SET quantity = -1 WHERE id = :id", id=item["id"])
    assert isinstance(refusal, db.CheckViolation) and refusal.sqlstate == "23514"
    assert db.one("SELECT quantity FROM items WHERE id = :id", id=item["id"])["quantity"] == 100


def test_sku_differing_only_in_case_is_rejected_by_the_unique_index(services, item):
    refusal = _refusal("INSERT INTO items (name, sku) VALUES (:name, :sku)", name=unique("Dup"),
                       sku=item["sku"].swapcase())
    assert isinstance(refusal, db.UniqueViolation) and refusal.sqlstate == "23505"
    assert db.one("SELECT count(*) AS n FROM items WHERE lower(sku) = lower(:sku)", sku=item["sku"])["n"] == 1


def test_ledger_action_and_user_role_are_constrained(services, item):
    assert isinstance(_refusal("INSERT INTO inventory_logs (item_id, action, quantity_before, quantity_after) "
                               "VALUES (:id, 'steal', 1, 0)", id=item["id"]), db.CheckViolation)
    assert isinstance(_refusal("INSERT INTO users (email, full_name, password_hash, role) "
                               "VALUES (:email, 'x', 'x', 'admin')", email=f"{unique('r')}@example.com"),
                      db.CheckViolation)


def test_only_one_open_alert_per_item(services, item):
    db.execute("INSERT INTO alerts (item_id, quantity, threshold) VALUES (:id, 1, 10)", id=item["id"])
    try:
        refusal = _refusal("INSERT INTO alerts (item_id, quantity, threshold) VALUES (:id, 1, 10)", id=item["id"])
        assert isinstance(refusal, db.UniqueViolation) and refusal.constraint
    finally:
        db.execute("DELETE FROM alerts WHERE item_id = :id", id=item["id"])
