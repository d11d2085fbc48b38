"""shared.db.savepoint: inside a transaction, a block that raises is undone alone, its after-commit
callbacks with it (no event of a row that was undone is published); the transaction goes on."""

from __future__ import annotations

import pytest

from shared import db


def _item(item_id: int) -> dict:
    return db.one("SELECT name, unit, quantity FROM items WHERE id = :id", id=item_id)


def test_a_block_the_server_refuses_is_undone_alone(services, item):
    ran: list[str] = []
    with db.transaction() as conn:
        conn.execute("UPDATE items SET name = 'kept before' WHERE id = :id", id=item["id"])
        with pytest.raises(db.CheckViolation):
            with db.savepoint():
                db.after_commit(lambda: ran.append("undone"))
                conn.execute("UPDATE items SET unit = 'undone' WHERE id = :id", id=item["id"])
                conn.execute("UPDATE items SET quantity = -1 WHERE id = :id", id=item["id"])
        db.after_commit(lambda: ran.append("kept"))
        conn.execute("UPDATE items SET name = name || ' and after' WHERE id = :id", id=item["id"])
    assert _item(item["id"]) == {"name": "kept before and after", "unit": "pcs", "quantity": 100}
    assert ran == ["kept"]


def test_a_block_that_succeeds_is_kept_with_its_callbacks(services, item):
    ran: list[str] = []
    with db.transaction() as conn:
        with db.savepoint():
            conn.execute("UPDATE items SET unit = 'box' WHERE id = :id", id=item["id"])
            db.after_commit(lambda: ran.append("inside"))
        assert ran == [], "not before the commit"
    assert _item(item["id"])["unit"] == "box" and ran == ["inside"]


def test_outside_a_transaction_each_write_commits_on_its_own(services, item):
    with pytest.raises(db.CheckViolation):
        with db.savepoint():
            db.execute("UPDATE items SET unit = 'box' WHERE id = :id", id=item["id"])
            db.execute("UPDATE items SET quantity = -1 WHERE id = :id", id=item["id"])
    assert _item(item["id"])["unit"] == "box"
