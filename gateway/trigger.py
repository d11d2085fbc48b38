"""`make trigger T=<trigger or package/function>`: fire a scheduled trigger by hand, now.

It asks the running gateway (`make run`, IMS_HOST:IMS_PORT) through the invoke API, as the
platform's scheduler would, with the trigger's body; waits for the result and prints it. The API
key is __OW_API_KEY, else the one `make run` keeps in the data dir.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

from gateway import manifest
from gateway.openwhisk import cron
from localenv import datadir
from shared import invoke


def main(argv: list[str] | None = None) -> int:
    functions = manifest.load()
    schedule = cron.triggers(functions)
    names = ", ".join(t.name for t in schedule)
    parser = argparse.ArgumentParser(prog="make trigger T=", description=__doc__.splitlines()[0])
    parser.add_argument("target", help=f"a trigger ({names}) or a function (package/name, params {{}})")
    target = parser.parse_args(argv).target
    found = next((t for t in schedule if t.name == target), None)
    if found:
        action, params = found.function.qualified, found.body
    elif target in {f.qualified for f in functions}:
        action, params = target, {}
    else:
        parser.error(f"no trigger or function named {target!r}; triggers: {names}")

    data_dir = datadir.data_dir()
    key = datadir.kept(data_dir, *datadir.API_KEY)  # read only: a new key would not be the gateway's
    if not key:
        print(f"no API key: set __OW_API_KEY, or start the gateway with `make run` (it keeps one in "
              f"{data_dir})", file=sys.stderr)
        return 1
    host = f"http://{os.environ.get('IMS_HOST', '127.0.0.1')}:{os.environ.get('IMS_PORT', '8000')}"
    try:
        with urllib.request.urlopen(invoke.request(host, key, action, params, blocking=True),
                                    timeout=300) as response:
            result = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        if exc.code == 502:  # the function ran and reported an error
            print(text)
        else:
            print(f"{action}: the gateway answered {exc.code}: {text}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{action}: no gateway at {host} ({exc}); start it with `make run`", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
