"""`python -m gateway.site --api URL --ws URL [--out build/ui]`: the web UI as a static site, for a host
of static files (DigitalOcean App Platform's static sites, a bucket behind a CDN, nginx) in front of an
IMS that is not served by the gateway.

The site is `ui/` as it is, plus the `config.json` the gateway would otherwise generate, `_headers`
(the Content-Security-Policy and the other headers the gateway sends with the UI, in the file format of
the static hosts that read one: Netlify, Cloudflare Pages; elsewhere, configure the same headers) and, when the
API is DigitalOcean's function URLs (`https://<host>/api/v1/web/<namespace>`), `routes.json`: the REST
routes of project.yml with the function that answers each, because the platform serves only function
URLs (`…/items/withdraw/42`), not the REST routes (`/items/42/withdraw`) the UI asks for. The UI's
api.js turns one into the other with it. Nothing is compiled: the files are copied.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway import manifest, ui
from shared.settings import ConfigError

ROOT = Path(__file__).resolve().parent.parent
UI = ROOT / "ui"
# A function URL base: /api/v1/web/<namespace>, as DigitalOcean Functions publishes them.
_FUNCTION_URLS = re.compile(r"^/api/v1/web/[^/]+/?$")


class SiteError(Exception):
    """The settings cannot make a working site."""


def routes(functions: list[manifest.Function]) -> list[dict[str, str]]:
    """Each REST route with the function serving it: {"method", "route", "function"}. Routes without an
    `{id}` come first, as the gateway matches them: `/items/export` is not item "export"."""
    table = [{"method": f.method, "route": f.route, "function": f.qualified}
             for f in functions if f.routed and f.method and f.route]
    return sorted(table, key=lambda r: "{id}" in r["route"])


def config(api: str, ws: str) -> dict[str, Any]:
    """config.json for an API at `api` and a live feed at `ws`, checked as the gateway checks IMS_UI_API_BASE
    and IMS_UI_WS_URL (nothing that could widen the _headers policy); the API must be absolute here."""
    try:
        api, ws = ui.check_api_base(api), ui.check_ws_url(ws)
    except ConfigError as exc:
        raise SiteError(str(exc).replace("IMS_UI_API_BASE", "--api").replace("IMS_UI_WS_URL", "--ws")) from exc
    if api.startswith("/") or not ws:
        raise SiteError(f"--api must be an absolute http(s) URL and --ws a ws(s) URL, not {api!r} and {ws!r}")
    return {"api_base": api, "ws_url": ws, "function_urls": bool(_FUNCTION_URLS.match(urlsplit(api).path))}


def build(out: Path, api: str, ws: str) -> dict[str, Any]:
    """Write the site into `out` (replaced) and return its config."""
    settings = config(api, ws)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(UI, out)
    (out / "config.json").write_text(json.dumps(settings, indent=2) + "\n")
    headers = ui.security_headers(settings["api_base"], settings["ws_url"])
    (out / "_headers").write_text("/*\n" + "".join(f"  {name}: {value}\n" for name, value in headers))
    if settings["function_urls"]:
        (out / "routes.json").write_text(json.dumps(routes(manifest.load()), indent=1) + "\n")
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.site", description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="the API base: https://<host>/api/v1 (the gateway) or "
                        "https://<host>/api/v1/web/<namespace> (DigitalOcean function URLs)")
    parser.add_argument("--ws", required=True, help="the live feed: wss://<realtime host>/ws")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "ui")
    args = parser.parse_args(argv)
    try:
        settings = build(args.out, args.api, args.ws)
    except SiteError as exc:
        print(f"make ui-site: {exc}", file=sys.stderr)
        return 2
    mode = "function URLs (routes.json written)" if settings["function_urls"] else "the REST routes"
    print(f"wrote {args.out}: API {settings['api_base']} through {mode}, live feed {settings['ws_url']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
