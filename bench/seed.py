"""Seed the bench database: 20 categories, 10 locations, 100,000 items and one hot item.

Everything is generated server-side (INSERT … SELECT … FROM generate_series) from small word lists,
so 100k rows take seconds, not the minutes 100k API calls would. `setseed` makes the data the same
on every run. Each item also gets its `create` ledger row, as the API would have written, so the
ledger still replays to every item's quantity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ITEMS = 100_000
HOT_QUANTITY = 10_000_000
HOT_SKU = "HOT-000001"

CATEGORIES = [  # (name, SKU prefix)
    ("Fasteners", "FAS"), ("Electrical", "ELE"), ("Plumbing", "PLB"), ("Hydraulics", "HYD"),
    ("Pneumatics", "PNE"), ("Safety", "SAF"), ("Hand Tools", "HTL"), ("Power Tools", "PTL"),
    ("Lab Glassware", "LAB"), ("Chemicals", "CHM"), ("Office Supplies", "OFF"), ("Cleaning", "CLN"),
    ("Packaging", "PKG"), ("Electronics", "ELX"), ("Networking", "NET"), ("Lighting", "LGT"),
    ("Adhesives", "ADH"), ("Abrasives", "ABR"), ("Bearings", "BRG"), ("Seals & Gaskets", "SEA"),
]
LOCATIONS = [
    "Main Warehouse", "North Depot", "South Depot", "Lab Store", "Workshop A", "Workshop B",
    "Receiving Dock", "Shipping Dock", "Cold Room", "Overflow Yard",
]
ADJECTIVES = [
    "Heavy-Duty", "Compact", "Industrial", "Precision", "Standard", "Reinforced", "Insulated",
    "Adjustable", "Portable", "Galvanized", "Lightweight", "Universal", "Flexible", "Magnetic",
    "Waterproof", "Ergonomic",
]
MATERIALS = [
    "Steel", "Aluminium", "Brass", "Copper", "Nylon", "Rubber", "Ceramic", "Oak", "Glass", "Titanium",
    "Polymer", "Carbon", "Cotton", "Bamboo",
]
NOUNS = [
    "Bolt", "Bracket", "Hinge", "Valve", "Clamp", "Washer", "Bearing", "Gasket", "Cable", "Connector",
    "Fuse", "Switch", "Pipe", "Filter", "Spring", "Nozzle", "Pulley", "Sensor", "Relay", "Gear", "Hose",
    "Anchor", "Rivet", "Shelf",
]
SIZES = ["M4", "M6", "M8", "M10", "12 mm", "25 mm", "50 mm", "1/4 in", "1/2 in", "Small", "Medium",
         "Large", "XL"]
UNITS = ["pcs", "pcs", "pcs", "pcs", "box", "pack", "m", "kg"]


def _array(words: list[str]) -> str:
    """A SQL text[] literal of constant words (ours, so quoting only has to double quotes)."""
    return "ARRAY[" + ", ".join("'" + w.replace("'", "''") + "'" for w in words) + "]::text[]"


def _pick(words: list[str]) -> str:
    return f"({_array(words)})[1 + floor(random() * {len(words)})::int]"


# Sku numbers: i * 7919 mod 10^6 is a bijection on 0..999,999 (7919 is prime, coprime to 10^6), so
# the numbers look random but never collide.
_ITEMS_SQL = f"""
INSERT INTO items (name, sku, description, category_id, location_id, quantity, unit, price,
                   low_stock_threshold, created_at, updated_at)
SELECT g.name, g.prefix || '-' || lpad(((g.i * 7919) % 1000000)::text, 6, '0'),
       CASE WHEN g.r < 0.5 THEN NULL ELSE 'Stocked in ' || l.name || ' for the ' || c.name || ' range.' END,
       c.id, l.id, g.quantity, g.unit, g.price, g.threshold, g.created_at,
       g.created_at + (now() - g.created_at) * g.r
FROM (
    SELECT i,
           {_pick(ADJECTIVES)} || ' ' || {_pick(MATERIALS)} || ' ' || {_pick(NOUNS)} || ' ' || {_pick(SIZES)}
               AS name,
           ci, ({_array([p for _, p in CATEGORIES])})[ci] AS prefix,
           1 + floor(random() * {len(LOCATIONS)})::int AS li,
           1000 + floor(random() * 9000)::int AS quantity,
           {_pick(UNITS)} AS unit,
           round((0.5 + random() * 499.5)::numeric, 2) AS price,
           5 + floor(random() * 96)::int AS threshold,
           now() - random() * interval '365 days' AS created_at,
           random() AS r
    FROM (SELECT i, 1 + floor(random() * {len(CATEGORIES)})::int AS ci
          FROM generate_series(1, :n) AS i) AS numbered
) AS g
JOIN (SELECT id, name, row_number() OVER (ORDER BY id) AS rn FROM categories) AS c ON c.rn = g.ci
JOIN (SELECT id, name, row_number() OVER (ORDER BY id) AS rn FROM locations) AS l ON l.rn = g.li
ORDER BY g.i"""

_LEDGER_SQL = """
INSERT INTO inventory_logs (item_id, action, quantity_before, quantity_after, notes, created_at)
SELECT id, 'create', 0, quantity, 'bench seed', created_at FROM items"""


@dataclass
class Seeded:
    first_id: int
    last_id: int
    hot_id: int
    sku_sample: str  # a real SKU, for the SKU-fragment search
    category_id: int


def seed(conn: Any, items: int = ITEMS) -> Seeded:
    """Fill an empty, migrated database through a pg8000.native connection; VACUUM ANALYZE after."""
    conn.run("BEGIN")
    try:
        conn.run("SELECT setseed(0.42)")
        for name, _ in CATEGORIES:
            conn.run("INSERT INTO categories (name, description) VALUES (:n, :d)", n=name,
                     d=f"Everything {name.lower()}")
        for name in LOCATIONS:
            conn.run("INSERT INTO locations (name, address) VALUES (:n, :a)", n=name, a=f"{name}, Bench Park")
        conn.run(_ITEMS_SQL, n=items)
        conn.run("INSERT INTO items (name, sku, description, quantity, price, low_stock_threshold) "
                 "VALUES ('Hot Item Benchmark Counter', :sku, 'the one item every client withdraws from', "
                 ":q, 1.00, 10)", sku=HOT_SKU, q=HOT_QUANTITY)
        conn.run(_LEDGER_SQL)
        conn.run("COMMIT")
    except BaseException:
        conn.run("ROLLBACK")
        raise
    conn.run("VACUUM ANALYZE")  # outside the transaction; the visibility map helps index-only scans
    first, last = conn.run("SELECT min(id), max(id) FROM items WHERE sku <> :sku", sku=HOT_SKU)[0]
    hot = conn.run("SELECT id FROM items WHERE sku = :sku", sku=HOT_SKU)[0][0]
    sku = conn.run("SELECT sku FROM items WHERE id = :id", id=first + (last - first) // 2)[0][0]
    category = conn.run("SELECT min(id) FROM categories")[0][0]
    return Seeded(first_id=first, last_id=last, hot_id=hot, sku_sample=sku, category_id=category)
