"""The CSV import page in Chromium: a file read in the browser, checked by a dry run whose report is
shown, then imported in chunks under the 1 MB request limit with a progress bar. An export imported
back changes nothing; a file of new, changed and bad rows does what its preview said."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import parse_qs, urljoin, urlsplit

from playwright.sync_api import expect

from tests.api.helpers import V1, new_category, new_item, new_location
from tests.conftest import unique


def export_all(api, token: str, query: str) -> str:
    """Every page of GET /items/export?<query> joined into one file (each page repeats the header line)."""
    url, parts = f"{V1}/items/export?{query}", []
    for _ in range(1000):
        res = api.get(url, token=token)
        assert res.status == 200, res.text
        parts.append(res.text if not parts else res.text.split("\n", 1)[1])
        link = re.search(r'<([^>]*)>\s*;\s*rel="?next"?', res.headers.get("link", ""))
        if not link:
            return "".join(parts)
        url = urljoin(url, link.group(1))
    raise AssertionError("the export did not end")


def versions(api, token: str) -> dict[int, int]:
    found: dict[int, int] = {}
    for page in range(1, 10000):
        answer = api.get(f"{V1}/items?per_page=100&page={page}&sort_by=created_at", token=token).json()
        found.update({item["id"]: item["version"] for item in answer["data"]})
        if not answer["data"] or len(found) >= answer["total"]:
            return found
    raise AssertionError("too many pages")


def ledger_size(api, token: str) -> int:
    return api.get(f"{V1}/logs?per_page=1", token=token).json()["total"]


def import_requests(page) -> list:
    sent: list = []
    page.on("request", lambda r: sent.append(r) if r.method == "POST" and "/items/import" in r.url else None)
    return sent


def query_of(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}


def test_an_export_imported_back_changes_nothing(open_page, api, manager, tmp_path):
    """The test's own items (the export filtered by their name prefix, as the session's database holds
    whatever other tests made), with what a round trip could spoil: quoted text and line breaks, a
    formula-like name, a price, a category and a location, and a stock restocked past what a count may set."""
    token, prefix = manager["token"], unique("RoundTrip")
    category, location = new_category(api, token), new_location(api, token)
    made = [new_item(api, token, name=f"{prefix} quoted", description='Quoted "text", a comma\nand a second line',
                     price="12.50", category_id=category["id"], location_id=location["id"]),
            new_item(api, token, name=f"=SUM(A1) looks like a formula {prefix}"),
            new_item(api, token, name=f"{prefix} bulk", quantity=1_000_000_000)]
    res = api.post(f"{V1}/items/{made[2]['id']}/restock", {"quantity": 500_000_000}, token=token)
    assert res.status == 200, res.text
    exported = export_all(api, token, f"search={prefix}")
    table = list(csv.DictReader(io.StringIO(exported, newline="")))
    assert sorted(r["sku"] for r in table) == sorted(i["sku"] for i in made)
    assert {r["sku"]: r["quantity"] for r in table}[made[2]["sku"]] == "1500000000"
    rows = len(table)
    path = tmp_path / "items.csv"
    path.write_bytes(exported.encode("utf-8"))
    before, logged = versions(api, token), ledger_size(api, token)

    page = open_page("/#/import", user=manager)
    sent = import_requests(page)
    page.get_by_label("CSV file").set_input_files(str(path))
    expect(page.get_by_role("heading", name="Preview")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Every valid row matches what is stored: importing changes nothing.")).to_be_visible()
    assert all(query_of(r)["dry_run"] == "true" for r in sent) and sent
    page.get_by_role("button", name=f"Import {rows:,} row{'s' if rows != 1 else ''}").click()
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("status").filter(has_text="Import finished")).to_contain_text(f"{rows:,} unchanged")

    assert versions(api, token) == before
    assert ledger_size(api, token) == logged
    real = [r for r in sent if query_of(r)["dry_run"] == "false"]
    assert real and all(r.headers["content-type"].startswith("text/csv") and r.headers.get("idempotency-key")
                        for r in real)


def test_an_import_creates_updates_and_reports_a_bad_row_by_its_line(open_page, api, manager, tmp_path):
    existing = new_item(api, manager["token"], quantity=5)
    fresh, category = unique("NEW"), unique("Imported")
    path = tmp_path / "mixed.csv"
    path.write_text("sku,name,quantity,category\r\n"
                    f"{fresh},Brand new thing,3,{category}\r\n"
                    f"{existing['sku']},{existing['name']},7,\r\n"
                    ",Nameless,1,\r\n", encoding="utf-8")

    page = open_page("/#/import", user=manager)
    page.get_by_label("CSV file").set_input_files(str(path))
    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    bad = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Problem"))
    expect(bad.get_by_role("row").nth(1)).to_contain_text("4")
    expect(bad.get_by_role("row").nth(1)).to_contain_text("sku")
    update = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Changes"))
    expect(update).to_contain_text(existing["sku"])
    expect(update).to_contain_text("quantity: 5 → 7")
    expect(page.get_by_text(f"category {category}")).to_be_visible()
    assert api.get(f"{V1}/items?sku={fresh}", token=manager["token"]).json()["total"] == 0  # a dry run

    page.get_by_role("button", name="Import 2 rows").click()
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Import finished")).to_contain_text("1 created, 1 updated")
    created = api.get(f"{V1}/items?sku={fresh}", token=manager["token"]).json()["data"]
    assert len(created) == 1 and created[0]["quantity"] == 3 and created[0]["category_id"] is not None
    assert api.get(f"{V1}/items/{existing['id']}", token=manager["token"]).json()["quantity"] == 7
    history = api.get(f"{V1}/logs?item_id={existing['id']}", token=manager["token"]).json()["data"]
    assert history[0]["action"] == "count" and history[0]["quantity_after"] == 7


def test_a_large_file_goes_in_two_chunks_with_a_progress_bar(open_page, api, manager, tmp_path):
    prefix = unique("BULK")
    description = "A long description that makes the file large. " * 42  # ~2 kB a row
    lines = ["sku,name,description,quantity"]
    lines += [f"{prefix}-{i:04d},Bulk item {i},{description.strip()},{i}" for i in range(600)]
    path = tmp_path / "large.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    assert 1_100_000 < path.stat().st_size < 1_800_000

    page = open_page("/#/import", user=manager)
    sent = import_requests(page)
    page.get_by_label("CSV file").set_input_files(str(path))
    expect(page.get_by_role("heading", name="Preview")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Import 600 rows").click()
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible(timeout=120_000)
    progress = page.get_by_role("progressbar", name="Progress")
    expect(progress).to_have_js_property("max", 2)
    expect(progress).to_have_js_property("value", 2)

    real = [r for r in sent if query_of(r)["dry_run"] == "false"]
    assert len(real) == 2
    sizes = [len(r.post_data_buffer) for r in real]
    assert all(size <= 900_000 for size in sizes) and sum(sizes) > path.stat().st_size  # the header twice
    first_rows = [int(query_of(r)["first_row"]) for r in real]
    assert first_rows[0] == 2
    second = real[1].post_data_buffer.decode().split("\r\n")[1]
    assert second.startswith(f"{prefix}-{first_rows[1] - 2:04d},")  # its first row is that line of the file
    found = api.get(f"{V1}/items?search={prefix}&per_page=1", token=manager["token"]).json()
    assert found["total"] == 600
