"""`make trigger T=<trigger or package/function>`: fire a scheduled trigger by hand, now.

It asks the running gateway (`make run`, IMS_HOST:IMS_PORT) through the invoke API, as the
platform's scheduler would, with the trigger's body; waits for the result and prints it. The API
key is __OW_API_KEY, else the one `make run` keeps in the data dir.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from gateway import cron, manifest


def _kept_key(data_dir: Path) -> str:
    path = data_dir / "api_key"  # where gateway.local.api_key keeps it; read, never created here
    return path.read_text().strip() if path.exists() else ""


def main(argv: list[str] | None = None) -> int:
    schedule = cron.triggers(manifest.load())
    names = ", ".join(t.name for t in schedule)
    parser = argparse.ArgumentParser(prog="make trigger T=", description=__doc__.splitlines()[0])
    parser.add_argument("target", help=f"a trigger ({names}) or a function (package/name, params {{}})")
    target = parser.parse_args(argv).target
    found = next((t for t in schedule if t.name == target), None)
    if found:
        action, params = found.function.qualified, found.body
    elif target in {f.qualified for f in manifest.load()}:
        action, params = target, {}
    else:
        parser.error(f"no trigger or function named {target!r}; triggers: {names}")

    data_dir = Path(os.environ.get("IMS_DATA_DIR") or manifest.REPO_ROOT / ".ims-data").resolve()
    key = os.environ.get("__OW_API_KEY") or _kept_key(data_dir)
    if not key:
        print(f"no API key: set __OW_API_KEY, or start the gateway with `make run` (it keeps one in "
              f"{data_dir})", file=sys.stderr)
        return 1
    url = (f"http://{os.environ.get('IMS_HOST', '127.0.0.1')}:{os.environ.get('IMS_PORT', '8000')}"
           f"/api/v1/namespaces/_/actions/{action}?blocking=true&result=true")
    request = urllib.request.Request(url, data=json.dumps(params).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(key.encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            result = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        if exc.code == 502:  # the function ran and reported an error
            print(text)
        else:
            print(f"{action}: the gateway answered {exc.code}: {text}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{action}: no gateway at {url.split('/api')[0]} ({exc}); start it with `make run`", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
