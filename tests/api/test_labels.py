"""GET /items/{id}/label: the item's SKU as a QR code in SVG, drawn by segno.

segno does not decode QR codes, so the test reads the modules the SVG draws and holds them to the
symbol segno makes of the SKU (a QR code, not a Micro QR, error correction at least M) with its quiet
zone of 4 modules: the same matrix is the same code."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET

import pytest
import segno

from tests.api.helpers import V1, assert_problem, new_item
from tests.conftest import unique

SVG = "{http://www.w3.org/2000/svg}"
QUIET_ZONE = 4


def drawn_modules(path: str) -> set[tuple[int, int]]:
    """The (column, row) modules a segno path strokes: M and m move (absolutely, relatively) to the
    middle of a row, h draws a run of that many modules to the right."""
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for command, args in re.findall(r"([A-Za-z])([^A-Za-z]*)", path):
        numbers = [float(n) for n in re.findall(r"-?[0-9]+(?:\.[0-9]+)?", args)]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        elif command == "h":
            dark |= {(int(x) + i, int(y)) for i in range(int(numbers[0]))}
            x += numbers[0]
        else:
            raise AssertionError(f"unexpected path command {command!r} in {path[:80]}")
    return dark


def symbol_modules(sku: str) -> set[tuple[int, int]]:
    qr = segno.make_qr(sku, error="m")
    return {(x, y) for y, row in enumerate(qr.matrix_iter(border=QUIET_ZONE)) for x, bit in enumerate(row) if bit}


SKUS = {"upper case": lambda: unique("LBL"), "any allowed character": lambda: f"lower.case/{unique('x_y')}",
        "digits only": lambda: str(uuid.uuid4().int)[:16]}


@pytest.mark.parametrize("sku", SKUS.values(), ids=SKUS.keys())
def test_the_label_is_an_svg_qr_code_of_the_sku_with_its_quiet_zone(api, manager, staff, sku):
    item = new_item(api, manager["token"], sku=sku())
    res = api.get(f"{V1}/items/{item['id']}/label", token=staff["token"])
    assert res.status == 200, res.text
    assert res.headers["content-type"] == "image/svg+xml; charset=utf-8"
    root = ET.fromstring(res.body)  # well-formed XML
    assert root.tag == f"{SVG}svg"
    assert "width" not in root.attrib and "height" not in root.attrib  # scales to its box
    x0, y0, width, height = (int(v) for v in root.attrib["viewBox"].split())
    qr = segno.make_qr(item["sku"], error="m")
    assert (x0, y0, width, height) == (0, 0, *qr.symbol_size(border=QUIET_ZONE))
    assert width >= 21 + 2 * QUIET_ZONE  # a QR code (version 1 is 21 modules), not a Micro QR
    [path] = root.iter(f"{SVG}path")
    assert drawn_modules(path.attrib["d"]) == symbol_modules(item["sku"])
    assert root.findtext(f"{SVG}title") == item["sku"]


def test_a_missing_item_is_404(api, staff):
    assert_problem(api.get(f"{V1}/items/999999999/label", token=staff["token"]), 404)


def test_an_anonymous_caller_is_401(api, item):
    res = api.get(f"{V1}/items/{item['id']}/label")
    assert_problem(res, 401)
    assert res.headers["www-authenticate"] == "Bearer"


def test_the_document_declares_the_svg_answer(api):
    operation = api.get("/openapi.json").json()["paths"]["/items/{id}/label"]["get"]
    assert operation["responses"]["200"]["content"] == {"image/svg+xml": {"schema": {"type": "string"}}}
    assert operation["x-ims-auth"] == "staff"
    not_found = operation["responses"]["404"]
    assert not_found == {"$ref": "#/components/responses/E404"}


def test_the_drawn_modules_reader_sees_a_different_sku_as_a_different_code():
    """The comparison above can fail: two SKUs make different symbols."""
    assert symbol_modules("LBL-1") != symbol_modules("LBL-2")
