"""Run one bundled function the way the OpenWhisk / DigitalOcean Python runtime does.

Start it with the function's folder as the working directory: `python -I platform_launcher.py`.
Like the real launcher (apache/openwhisk-runtime-python, core/pythonActionLoop/lib/launcher.py) it
puts that folder first on sys.path, imports `__main__.py` as the module `main__`, then reads one
activation per line from stdin: `{"value": {...args...}, "activation_id": ..., "deadline": ...}`.
Every key but `value` becomes an `__OW_<KEY>` environment variable; `main` gets `value`; an exception
becomes `{"error": str(exception)}`. The real launcher writes each result as one JSON line to fd 3
(the action proxy reads it there, leaving stdout and stderr to the logs); this one writes them to its
original stdout instead and sends anything the function prints to stderr, which keeps the same
separation. Two differences, both for the tests: it first writes a line saying where `shared` was
imported from, and it calls `main(value)` (OpenWhisk's launcher) on odd activations and
`main(value, context)` (DigitalOcean's) on even ones, so one process proves both signatures.
"""

import importlib.util
import json
import os
import sys
import time
import traceback

out = os.fdopen(os.dup(1), "w")  # results only
os.dup2(2, 1)  # whatever the function prints goes to the logs

sys.path.insert(0, os.getcwd())
spec = importlib.util.spec_from_file_location("main__", "__main__.py")
module = importlib.util.module_from_spec(spec)
sys.modules["main__"] = module
spec.loader.exec_module(module)
main = module.main
shared = sys.modules.get("shared")
out.write(json.dumps({"shared": getattr(shared, "__file__", None)}) + "\n")
out.flush()


class Context:
    """The attributes DigitalOcean's Python runtime gives the second argument of main."""

    def __init__(self, env):
        self.activation_id = env.get("__OW_ACTIVATION_ID", "")
        self.function_name = env.get("__OW_ACTION_NAME", "")
        self.function_version = env.get("__OW_ACTION_VERSION", "0.0.1")
        self.namespace = env.get("__OW_NAMESPACE", "")
        self.request_id = env.get("__OW_TRANSACTION_ID", "")
        self.api_host = env.get("__OW_API_HOST", "")
        self.api_key = ""
        self.deadline = int(env.get("__OW_DEADLINE") or 0)

    def get_remaining_time_in_millis(self):
        return max(0, self.deadline - int(time.time() * 1000))


for count, line in enumerate(sys.stdin, start=1):
    activation = json.loads(line)
    for key, value in activation.items():
        if key != "value":
            os.environ[f"__OW_{key.upper()}"] = str(value)
    payload = activation.get("value", {})
    try:
        result = main(payload) if count % 2 else main(payload, Context(os.environ))
    except Exception as exc:
        traceback.print_exc()
        result = {"error": str(exc)}
    out.write(json.dumps(result, ensure_ascii=False) + "\n")
    out.flush()
