"""Realtime beside a DigitalOcean deployment: a withdrawal through the BUNDLED items/withdraw function,
run as the platform runs it (tests/platform_launcher.py, nothing of the repository on sys.path), reaches
a live-feed client of a separate realtime server that shares only its settings (DATABASE_URL, REDIS_URL,
JWT_SECRET) with it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from gateway import manifest
from gateway.platform_event import build_event
from realtime import launch
from tests.conftest import JWT_SECRET
from tests.deploy.conftest import bundle
from tests.realtime.conftest import about, aio, feed_env, peer

LAUNCHER = Path(__file__).resolve().parent.parent / "platform_launcher.py"


def run_bundled(folder: Path, env: dict[str, str], value: dict) -> dict:
    activation = {"value": value, "activation_id": "act-deploy-withdraw", "namespace": "fn-test",
                  "action_name": "/fn-test/items/withdraw", "deadline": int(time.time() * 1000) + 15000}
    run = subprocess.run([sys.executable, "-I", str(LAUNCHER)], cwd=folder, input=json.dumps(activation) + "\n",
                         env={"PATH": os.environ.get("PATH", ""), **env}, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    ready, result = (json.loads(line) for line in run.stdout.splitlines())
    assert ready["shared"] == str(folder / "shared" / "__init__.py")
    return result


@aio
async def test_a_withdrawal_through_the_bundled_function_reaches_a_live_feed_client(
        services: dict[str, str], staff: dict, item: dict, tmp_path: Path) -> None:
    deployed = {"DATABASE_URL": services["DATABASE_URL"], "REDIS_URL": services["REDIS_URL"], "JWT_SECRET": JWT_SECRET}
    out = tmp_path / "do"
    await asyncio.to_thread(bundle, out, deployed)
    # The realtime container: its own process, configured with the functions' settings.
    feed = await asyncio.to_thread(launch.start, feed_env(**deployed))
    try:
        async with peer(feed.url, token=staff["token"]) as client:
            await client.ready()
            event = build_event("POST", f"/{item['id']}", "",
                                {"authorization": f"Bearer {staff['token']}", "content-type": "application/json"},
                                b'{"quantity": 7, "notes": "picked for an order"}')
            result = await asyncio.to_thread(run_bundled, out / "packages" / "items" / "withdraw", deployed, event)
            assert result["statusCode"] == 200, result
            assert json.loads(result["body"])["quantity"] == 93
            (changed,) = await client.about(item["id"])
    finally:
        await asyncio.to_thread(feed.stop)
    data = changed["data"]
    assert (data["action"], data["previous_quantity"], data["quantity"], data["delta"]) == ("withdraw", 100, 93, -7)
    assert data["user"]["id"] == staff["user"]["id"]
    assert about(changed, item["id"])
