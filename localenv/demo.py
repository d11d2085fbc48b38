"""`make demo`: a realistic sample inventory in the running IMS, through its HTTP API, so a newcomer's
first look at the web UI has something in it.

    make run            # in one terminal
    make demo           # in another: python -m localenv.demo

Eight categories, five locations and 300 items of a lab, workshop and warehouse mix, with a few
movements each (restocks, withdrawals, the odd count), some items left below their threshold (their
alerts open, one acknowledged). Generated from a fixed seed: every run wants the same catalogue.

Idempotent: a category or location whose name exists and an item whose SKU exists are left alone
(an item's movements are only made when this run created it), and each movement carries an
Idempotency-Key, so a retried request never moves stock twice. Running it again changes nothing.

Where: IMS_URL, else http://127.0.0.1:$IMS_PORT (8000); loopback only unless IMS_DEMO_REMOTE=1.
Who: IMS_DEMO_EMAIL and IMS_DEMO_PASSWORD, a manager's; unset, on an instance with no user yet, it
registers the first user (manager@demo.example, who becomes the manager) and a staff user
(staff@demo.example) with generated passwords, printed at the end. An instance that has users and
no credentials given: exit status 2. Only the standard library: it runs before anything else is set up.
"""

from __future__ import annotations

import http.client
import ipaddress
import itertools
import json
import os
import random
import re
import secrets
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

SEED = 20261201
ITEMS = 300
WORKERS = 4  # concurrent requests: quick on `make run`, gentle on a laptop
MAX_PAGES = 200  # bounds every listing (100 rows a page)
MANAGER_EMAIL = "manager@demo.example"
STAFF_EMAIL = "staff@demo.example"
API = "/api/v1"

# (name, description, SKU prefix)
CATEGORIES = [
    ("Lab consumables", "Single-use labware: tips, tubes, dishes, gloves.", "LAB"),
    ("Glassware", "Reusable borosilicate glass.", "GLS"),
    ("Chemicals & reagents", "Solvents, salts, buffers. Check the safety data sheet before use.", "CHM"),
    ("Electronics", "Components, cables and boards for the workshop.", "ELC"),
    ("Fasteners", "Bolts, nuts, washers and screws, zinc-plated unless stated.", "FST"),
    ("Hand tools", "Tools lent from the workshop wall.", "TLS"),
    ("Safety & PPE", "Personal protective equipment.", "PPE"),
    ("Packaging & shipping", "Boxes, tape and labels for outgoing parcels.", "PKG"),
]

# (name, description, address)
LOCATIONS = [
    ("Main warehouse, aisle A", "Racks A1-A12, heavy goods at floor level.", "Unit 4, Harbour Road"),
    ("Main warehouse, aisle B", "Racks B1-B10, small parts bins.", "Unit 4, Harbour Road"),
    ("Lab store room", "Room 1.12, next to the wet lab; chemicals in the ventilated cabinet.", "Building C, floor 1"),
    ("Workshop", "Wall boards and drawers behind the bench.", "Building C, ground floor"),
    ("Shipping dock", "Dock 2, by the roller door.", "Unit 4, Harbour Road"),
]

# category -> [(name template, variants, unit, price range, where)]: a template's {} take every
# combination of its variants, so each line is a family of real-looking items.
_A, _B, _LAB, _WS, _DOCK = (name for name, _, _ in LOCATIONS)
PRODUCTS: dict[str, list[tuple[str, list[list[str]], str, tuple[float, float], list[str]]]] = {
    "Lab consumables": [
        ("Nitrile gloves, size {}, box of 100", [["S", "M", "L", "XL"]], "box", (7, 14), [_LAB]),
        ("Pipette tips {} µl, rack of 96", [["10", "20", "200", "1000"]], "rack", (4, 9), [_LAB]),
        ("Centrifuge tubes {} ml, pack of {}", [["1.5", "15", "50"], ["25", "50", "500"]], "pack", (6, 40), [_LAB]),
        ("Petri dishes {} mm, sleeve of 20", [["35", "60", "90", "150"]], "sleeve", (3, 8), [_LAB]),
        ("Syringe filters {} µm {}, pack of 50", [["0.22", "0.45"], ["PES", "PTFE", "nylon"]], "pack",
         (28, 60), [_LAB]),
        ("Cryo vials {} ml, bag of 100", [["1.2", "2", "5"]], "bag", (18, 35), [_LAB]),
        ("Weighing boats, {}, pack of 500", [["small", "medium", "large"]], "pack", (9, 22), [_LAB]),
        ("Disposable syringes {} ml, box of 100", [["1", "2", "5", "10", "20"]], "box", (8, 25), [_LAB, _B]),
        ("Microscope slides, {}, box of 50", [["plain", "frosted end", "cavity"]], "box", (5, 16), [_LAB]),
        ("Parafilm M, {} mm x 38 m", [["50", "100"]], "roll", (24, 45), [_LAB]),
    ],
    "Glassware": [
        ("Beaker {} ml, low form", [["50", "100", "250", "400", "600", "1000", "2000"]], "pcs", (3, 24), [_LAB]),
        ("Erlenmeyer flask {} ml, narrow neck", [["50", "100", "250", "500", "1000"]], "pcs", (4, 22), [_LAB]),
        ("Volumetric flask {} ml, class A", [["10", "25", "50", "100", "250", "500"]], "pcs", (9, 45), [_LAB]),
        ("Graduated cylinder {} ml", [["10", "25", "100", "250", "500"]], "pcs", (6, 30), [_LAB]),
        ("Media bottle {} ml, blue cap", [["100", "250", "500", "1000"]], "pcs", (5, 14), [_LAB, _A]),
        ("Watch glass {} mm", [["60", "80", "100", "125"]], "pcs", (2, 6), [_LAB]),
    ],
    "Chemicals & reagents": [
        ("Ethanol {}%, {} l", [["70", "96", "99.8"], ["1", "2.5", "5"]], "bottle", (9, 70), [_LAB]),
        ("Isopropanol 99.5%, {} l", [["1", "2.5", "5"]], "bottle", (8, 45), [_LAB]),
        ("Acetone, {} l", [["1", "2.5"]], "bottle", (10, 30), [_LAB]),
        ("Sodium chloride, {}", [["500 g", "1 kg", "5 kg"]], "tub", (6, 40), [_LAB]),
        ("Buffer solution pH {}, {} ml", [["4.01", "7.00", "10.01"], ["250", "500"]], "bottle", (7, 19), [_LAB]),
        ("Deionised water, {} l", [["5", "10", "25"]], "canister", (4, 18), [_LAB, _A]),
        ("Agar powder, {} g", [["100", "500"]], "tub", (25, 95), [_LAB]),
        ("Hydrochloric acid {} M, 1 l", [["0.1", "1"]], "bottle", (12, 20), [_LAB]),
    ],
    "Electronics": [
        ("Resistor {} Ω 0.25 W 1%, reel of 1000",
         [["10", "47", "100", "220", "330", "470", "1k", "2.2k", "4.7k", "10k", "47k", "100k"]], "reel", (4, 9),
         [_B, _WS]),
        ("Ceramic capacitor {} 50 V, bag of 100", [["10 pF", "100 pF", "1 nF", "10 nF", "100 nF", "1 µF"]], "bag",
         (2, 8), [_B]),
        ("LED 5 mm {}, bag of 50", [["red", "green", "blue", "white", "yellow"]], "bag", (3, 7), [_B]),
        ("USB-C cable {} m", [["0.5", "1", "2"]], "pcs", (4, 12), [_B, _WS]),
        ("Jumper wires {} {} cm, pack of 40", [["M-M", "M-F", "F-F"], ["10", "20"]], "pack", (2, 5), [_WS]),
        ("Alkaline battery {}, pack of {}", [["AA", "AAA"], ["4", "24"]], "pack", (3, 16), [_B]),
        ("Heat-shrink tubing {} mm, 1 m", [["1.6", "3.2", "6.4", "9.5", "12.7"]], "m", (0.5, 2), [_WS]),
        ("Solder wire {} mm lead-free, 250 g", [["0.5", "0.8", "1.0"]], "spool", (18, 32), [_WS]),
        ("Terminal block {}-way, {} mm pitch, bag of 20", [["2", "3", "4"], ["3.5", "5.08"]], "bag", (4, 11), [_B]),
        ("Tactile switch 6x6 mm, {} mm, bag of 100", [["4.3", "5", "7", "9.5"]], "bag", (3, 6), [_B]),
    ],
    "Fasteners": [
        ("Hex bolt M{} x {} mm, box of 100", [["4", "5", "6", "8", "10"], ["16", "20", "30", "40"]], "box",
         (4, 26), [_A, _WS]),
        ("Hex nut M{}, box of 200", [["3", "4", "5", "6", "8", "10", "12"]], "box", (3, 14), [_A, _WS]),
        ("Flat washer M{}, box of 200", [["3", "4", "5", "6", "8", "10", "12"]], "box", (2, 9), [_A, _WS]),
        ("Wood screw {} x {} mm, box of 200", [["3.5", "4", "5"], ["30", "40", "50"]], "box", (5, 15), [_A]),
        ("Cable tie {} x {} mm, bag of 100", [["2.5", "3.6", "4.8"], ["100", "200", "300"]], "bag", (2, 8),
         [_A, _WS]),
        ("Socket cap screw M{} x {} mm, box of 100", [["3", "4", "5", "6", "8"], ["10", "16", "25"]], "box",
         (5, 30), [_A, _WS]),
    ],
    "Hand tools": [
        ("Screwdriver {}", [["PH0", "PH1", "PH2", "PZ1", "PZ2", "SL 3", "SL 5.5", "T20", "T25"]], "pcs", (4, 11),
         [_WS]),
        ("Combination spanner {} mm", [["8", "10", "13", "17", "19", "22"]], "pcs", (6, 18), [_WS]),
        ("Tape measure {} m", [["3", "5", "8"]], "pcs", (6, 19), [_WS]),
        ("Claw hammer {} g", [["300", "450", "600"]], "pcs", (12, 28), [_WS]),
        ("Spirit level {} cm", [["40", "60", "100"]], "pcs", (14, 42), [_WS]),
        ("Hex key set {}, 9 pieces", [["metric", "imperial", "Torx"]], "set", (9, 24), [_WS]),
        ("Pliers, {}", [["side cutting 160 mm", "long nose 200 mm", "combination 180 mm"]], "pcs", (11, 26),
         [_WS]),
        ("Socket {} mm, 1/2 in drive", [["10", "13", "17", "19", "22", "24"]], "pcs", (4, 9), [_WS]),
        ("HSS drill bit {} mm", [["2", "3", "4", "5", "6", "8", "10"]], "pcs", (1, 6), [_WS]),
    ],
    "Safety & PPE": [
        ("Safety glasses, {} lens", [["clear", "tinted", "yellow"]], "pcs", (4, 9), [_LAB, _WS]),
        ("Lab coat, size {}", [["S", "M", "L", "XL", "XXL"]], "pcs", (18, 30), [_LAB]),
        ("Hi-vis vest, size {}", [["M", "L", "XL"]], "pcs", (3, 6), [_DOCK]),
        ("Work gloves, size {}", [["7", "8", "9", "10", "11"]], "pair", (3, 8), [_WS, _DOCK]),
        ("Dust mask {}, box of 20", [["FFP2", "FFP3"]], "box", (15, 40), [_WS]),
        ("Ear plugs, {}", [["box of 200", "dispenser refill of 500"]], "box", (20, 60), [_WS]),
        ("Safety boots S3, EU size {}", [["38", "39", "40", "41", "42", "43", "44", "45", "46"]], "pair", (45, 80),
         [_DOCK, _A]),
    ],
    "Packaging & shipping": [
        ("Cardboard box {}, bundle of 20",
         [["200x150x100 mm", "300x200x150 mm", "400x300x200 mm", "600x400x400 mm"]], "bundle", (12, 45), [_DOCK]),
        ("Packing tape {} mm x 66 m, {}", [["48", "75"], ["clear", "brown"]], "roll", (2, 5), [_DOCK]),
        ("Bubble wrap roll {} cm x 50 m", [["30", "50", "100"]], "roll", (14, 40), [_DOCK]),
        ("Shipping labels {} mm, roll of 500", [["100x150", "100x50", "62x29"]], "roll", (9, 21), [_DOCK]),
        ("Padded envelope {}, box of 100", [["C5", "C4", "D1", "E2"]], "box", (18, 42), [_DOCK]),
        ("Stretch film {} µm x 300 m", [["17", "23"]], "roll", (8, 14), [_DOCK]),
        ("Kraft paper roll {} cm x 250 m", [["50", "75", "100"]], "roll", (20, 45), [_DOCK]),
    ],
}

_IN = ["Delivery from supplier, PO {}", "Restock from central stores", "Returned unused from project {}",
       "Goods received, delivery note {}"]
_OUT = ["Issued to project {}", "Issued to the teaching lab", "Used in maintenance job {}",
        "Sent to customer, order {}", "Damaged in storage", "Issued to the night shift"]


@dataclass
class Spec:
    """One item to have, and what happens to it after its creation."""

    sku: str
    name: str
    category: str
    location: str
    unit: str
    price: str
    threshold: int
    quantity: int  # at creation
    steps: list[tuple[str, int, str]] = field(default_factory=list)  # (restock|withdraw|count, quantity, note)


def catalogue(count: int = ITEMS, seed: int = SEED) -> list[Spec]:
    """The demo's items, the same list on every run: `count` of every product family's variants."""
    rng = random.Random(seed)
    families = []
    for category, lines in PRODUCTS.items():
        for template, variants, unit, prices, where in lines:
            for combo in itertools.product(*variants):
                families.append((category, template.format(*combo), unit, prices, where))
    chosen = sorted(rng.sample(families, min(count, len(families))), key=lambda f: (f[0], f[1]))
    prefixes = {name: prefix for name, _, prefix in CATEGORIES}
    numbers: dict[str, int] = {}
    specs = []
    for category, name, unit, (low, high), where in chosen:
        numbers[category] = numbers.get(category, 100) + rng.randint(1, 9)  # gaps, as real catalogues have
        threshold = rng.choice([2, 5, 5, 10, 10, 20, 25, 50])
        spec = Spec(sku=f"{prefixes[category]}-{numbers[category]:04d}", name=name, category=category,
                    location=rng.choice(where), unit=unit, price=f"{rng.uniform(low, high):.2f}",
                    threshold=threshold, quantity=threshold * rng.randint(2, 8) + rng.randint(0, threshold))
        _history(spec, rng)
        specs.append(spec)
    return specs


def _history(spec: Spec, rng: random.Random) -> None:
    """A few movements that never go below zero; about one item in eight ends below its threshold."""
    quantity = spec.quantity
    for _ in range(rng.randint(0, 3)):
        if rng.random() < 0.4:
            amount = spec.threshold * rng.randint(1, 4)
            spec.steps.append(("restock", amount, rng.choice(_IN).format(rng.randint(4100, 4999))))
            quantity += amount
        elif quantity > spec.threshold:
            amount = rng.randint(1, max(1, (quantity - spec.threshold) // 2))
            spec.steps.append(("withdraw", amount, rng.choice(_OUT).format(rng.randint(100, 399))))
            quantity -= amount
    if rng.random() < 0.1:
        counted = max(0, quantity + rng.randint(-3, 2))
        if counted != quantity:
            spec.steps.append(("count", counted, "Cycle count"))
            quantity = counted
    if rng.random() < 0.12 and quantity >= spec.threshold:
        amount = quantity - rng.randint(0, spec.threshold - 1)
        if amount > 0:
            spec.steps.append(("withdraw", amount, rng.choice(_OUT).format(rng.randint(100, 399))))


class Failed(Exception):
    """The demo cannot go on; `status` is the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class Client:
    """JSON over HTTP to one IMS, one keep-alive connection per thread."""

    def __init__(self, base_url: str, timeout: float = 30) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host, self.port, self.timeout = parts.hostname or "127.0.0.1", parts.port, timeout
        self.token: str | None = None
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = self._local.conn = kind(self.host, self.port, timeout=self.timeout)
        return conn

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             query: dict[str, Any] | None = None) -> tuple[int, dict[str, str], Any]:
        """(status, headers, JSON body or text) of one request to /api/v1`path`."""
        url = API + path + ("?" + urlencode(query) if query else "")
        sent = {"Accept": "application/json", **(headers or {})}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data, sent["Content-Type"] = json.dumps(body).encode(), "application/json"
        for attempt in (1, 2):  # a keep-alive connection the server closed meanwhile: once more
            conn = self._conn()
            try:
                conn.request(method, url, body=data, headers=sent)
                res = conn.getresponse()
                raw = res.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest) as exc:
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise Failed(f"{method} {url}: {exc}") from exc
        out_headers = {k.lower(): v for k, v in res.getheaders()}
        try:
            parsed = json.loads(raw) if raw and "json" in out_headers.get("content-type", "") else raw.decode()
        except ValueError:
            parsed = raw.decode(errors="replace")
        return res.status, out_headers, parsed

    def want(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        status, _, parsed = self.call(method, path, body, **kw)
        if status not in ok:
            detail = parsed.get("detail") if isinstance(parsed, dict) else str(parsed)[:200]
            raise Failed(f"{method} {API}{path}: {status} {detail}")
        return parsed

    def every(self, path: str, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every row of a paged listing (bounded: MAX_PAGES pages)."""
        rows: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            got = self.want("GET", path, query={**(query or {}), "page": page, "per_page": 100})
            rows += got["data"]
            if len(got["data"]) < 100 or len(rows) >= got["total"]:
                break
        return rows


def target() -> str:
    url = (os.environ.get("IMS_URL") or f"http://127.0.0.1:{os.environ.get('IMS_PORT') or 8000}").rstrip("/")
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and os.environ.get("IMS_DEMO_REMOTE") != "1":
        raise Failed(f"IMS_URL={url} is not on this machine: the demo fills an instance with sample data. "
                     "Set IMS_DEMO_REMOTE=1 if that is really what you want.", 2)
    return url


@dataclass
class Report:
    url: str
    email: str = ""
    password: str | None = None  # generated here
    staff_password: str | None = None
    counts: dict[str, list[int]] = field(default_factory=dict)  # what -> [created, already there]
    movements: int = 0
    open_alerts: int = 0
    acknowledged: int = 0

    def tally(self, what: str, created: bool) -> None:
        pair = self.counts.setdefault(what, [0, 0])
        pair[0 if created else 1] += 1


def sign_in(client: Client, report: Report) -> None:
    email, password = os.environ.get("IMS_DEMO_EMAIL"), os.environ.get("IMS_DEMO_PASSWORD")
    if bool(email) != bool(password):
        raise Failed("Set both IMS_DEMO_EMAIL and IMS_DEMO_PASSWORD, or neither.", 2)
    if not email:
        email, password = MANAGER_EMAIL, _new_password()
        _register_first_user(client, email, password)
        report.password = password
    report.email = email
    status, _, got = client.call("POST", "/auth/login", {"email": email, "password": password})
    if status != 200:
        raise Failed(f"Signing in as {email} failed ({status}): check IMS_DEMO_EMAIL and IMS_DEMO_PASSWORD.", 2)
    if got["user"]["role"] != "manager":
        raise Failed(f"{email} is not a manager: the demo creates categories and locations, which managers do.", 2)
    client.token = got["access_token"]
    if report.password:  # a fresh instance: a staff member to try the UI as, too
        report.staff_password = _new_password()
        client.want("POST", "/users", {"email": STAFF_EMAIL, "password": report.staff_password,
                                       "full_name": "Sam Staff", "role": "staff"})


def _new_password() -> str:
    return "demo-" + secrets.token_hex(8)  # nothing a shell would read as an option or quote


def _register_first_user(client: Client, email: str, password: str) -> None:
    """Register `email` as the first user, after making sure the instance has none: a registration
    on an instance with users would leave an account waiting for a manager instead."""
    status, _, text = client.call("GET", "/metrics")
    found = re.search(r"^ims_active_users (\d+(?:\.\d+)?)$", text if isinstance(text, str) else "", re.M)
    if status != 200 or not found:
        raise Failed("Cannot tell whether this IMS has users (its /metrics wants METRICS_TOKEN): set "
                     "IMS_DEMO_EMAIL and IMS_DEMO_PASSWORD to a manager's account.", 2)
    if float(found.group(1)) > 0:
        raise Failed("This IMS has users already: set IMS_DEMO_EMAIL and IMS_DEMO_PASSWORD to a manager's account "
                     f"(after an earlier `make demo`: {MANAGER_EMAIL} and the password it printed).", 2)
    status, _, got = client.call("POST", "/auth/register", {"email": email, "password": password,
                                                           "full_name": "Dana Manager"})
    if status != 201 or got.get("role") != "manager":
        raise Failed(f"Registering {email} as the first user failed ({status}): {got}", 2)


def ensure_named(client: Client, path: str, wanted: list[dict[str, Any]], report: Report) -> dict[str, int]:
    """name -> id for every wanted category or location, creating the missing ones."""
    have = {row["name"].casefold(): row["id"] for row in client.every(path)}
    ids = {}
    for body in wanted:
        known = have.get(body["name"].casefold())
        if known is None:
            known = client.want("POST", path, body)["id"]
        report.tally(path.strip("/"), known != have.get(body["name"].casefold()))
        ids[body["name"]] = known
    return ids


def ensure_item(client: Client, spec: Spec, categories: dict[str, int], locations: dict[str, int]) -> int | None:
    """Create the item and make its movements; None when its SKU exists (then nothing is done), else
    the number of movements."""
    status, _, got = client.call("POST", "/items", {
        "sku": spec.sku, "name": spec.name, "category_id": categories[spec.category],
        "location_id": locations[spec.location], "unit": spec.unit, "price": spec.price,
        "low_stock_threshold": spec.threshold, "quantity": spec.quantity})
    if status == 409:
        return None
    if status != 201:
        raise Failed(f"POST {API}/items ({spec.sku}): {status} {got}")
    item_id, version = got["id"], got["version"]
    for number, (action, quantity, note) in enumerate(spec.steps):
        if action == "count":
            got = client.want("PATCH", f"/items/{item_id}", {"quantity": quantity},
                              headers={"If-Match": f'"{version}"'})
        else:
            # The key names this movement of this item: a retry is answered from the first attempt.
            got = client.want("POST", f"/items/{item_id}/{action}", {"quantity": quantity, "notes": note},
                              headers={"Idempotency-Key": f"demo-{item_id}-{number}"})
            got = got.get("item", got)
        version = got.get("version", version + 1)
    return len(spec.steps)


def alerts(client: Client, skus: set[str], report: Report) -> None:
    """Count the demo items' alerts; acknowledge one open alert when none is acknowledged yet."""
    mine = [a for a in client.every("/alerts") if a["item_sku"] in skus]
    open_ = sorted((a for a in mine if a["resolved_at"] is None), key=lambda a: a["id"])
    if open_ and not any(a["acknowledged"] for a in mine):
        client.want("PATCH", f"/alerts/{open_[0]['id']}/acknowledge")
        open_[0]["acknowledged"] = True
    report.open_alerts = len(open_)
    report.acknowledged = sum(1 for a in mine if a["acknowledged"])


def run() -> Report:
    url = target()
    client = Client(url)
    try:
        status, _, _ = client.call("GET", "/health")
    except (OSError, Failed) as exc:
        raise Failed(f"No IMS answers at {url} ({exc}). Start it with `make run` in another terminal.") from exc
    if status not in (200, 503):
        raise Failed(f"{url}{API}/health answered {status}: is that IMS?")
    report = Report(url)
    sign_in(client, report)
    categories = ensure_named(client, "/categories", [{"name": n, "description": d} for n, d, _ in CATEGORIES],
                              report)
    locations = ensure_named(client, "/locations", [{"name": n, "description": d, "address": a}
                                                    for n, d, a in LOCATIONS], report)
    specs = catalogue()
    with ThreadPoolExecutor(WORKERS) as pool:
        done = list(pool.map(lambda s: ensure_item(client, s, categories, locations), specs))
    for moved in done:
        report.tally("items", moved is not None)
        report.movements += moved or 0
    alerts(client, {s.sku for s in specs}, report)
    return report


def summary(report: Report) -> str:
    lines = [f"IMS demo data at {report.url}"]
    for what, (created, there) in report.counts.items():
        lines.append(f"  {what:<11} {created:>4} created, {there:>4} already there")
    lines += [f"  movements   {report.movements:>4} made",
              f"  alerts      {report.open_alerts:>4} open on the demo items, {report.acknowledged} acknowledged", "",
              f"Open {report.url}/ and sign in:", f"  manager  {report.email}"
              + (f"  password: {report.password}" if report.password else "  (your IMS_DEMO_PASSWORD)")]
    if report.staff_password:
        lines.append(f"  staff    {STAFF_EMAIL}  password: {report.staff_password}")
    if report.password:
        lines.append(f"Keep these. Run it again with: IMS_DEMO_EMAIL={report.email} "
                     f"IMS_DEMO_PASSWORD={report.password} make demo")
    lines.append(f"API docs: {report.url}/docs")
    return "\n".join(lines)


def main() -> int:
    try:
        report = run()
    except Failed as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        return exc.status
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
