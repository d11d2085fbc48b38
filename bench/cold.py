"""Cold start of one function: a fresh interpreter imports it the way the platform does and runs one event.

Like the OpenWhisk Python launcher, the child loads the function's `__main__.py` by path as the
module `main__` (importlib.util.spec_from_file_location) and calls `main(args)` once. The event is
built here, in the parent, with gateway.platform_event.build_event, and handed over as JSON, so the child
imports nothing the platform's launcher would not. The child reports, from `time.perf_counter()`
taken on its very first line: the import, the first event, and both together; plus its peak RSS
(VmHWM, see _PEAK_RSS).
The parent adds the whole process's wall time (interpreter start-up and exit included).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CHILD = r"""
import time
_t0 = time.perf_counter()
import importlib.util, json, os, resource, sys
root, source, site = sys.argv[1], sys.argv[2], sys.argv[3]
event = json.loads(sys.stdin.read())
sys.path[:0] = [root, site]  # the function's folder, then its own virtualenv, as on the platform
spec = importlib.util.spec_from_file_location("main__", source)
module = importlib.util.module_from_spec(spec)
sys.modules["main__"] = module
spec.loader.exec_module(module)
_t1 = time.perf_counter()
result = module.main(event)
_t2 = time.perf_counter()
try:  # the peak RSS of this process's own memory; see _PEAK_RSS below
    with open("/proc/self/status") as status:
        rss_kib = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
except (OSError, StopIteration):
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
status = result.get("statusCode") if isinstance(result, dict) else repr(type(result))
sys.stdout.write("\n" + json.dumps({"import": _t1 - _t0, "first": _t2 - _t1, "total": _t2 - _t0,
                                    "rss_kib": rss_kib, "status": status}) + "\n")
"""


# _PEAK_RSS: why VmHWM rather than getrusage(RUSAGE_SELF).ru_maxrss. On Linux ru_maxrss survives
# execve: subprocess starts the child with vfork/fork, and at exec the kernel folds the high-water
# mark of the memory the child was using until then, the parent's, into the child's ru_maxrss. A
# 45 MB parent would make every child report at least 45 MB. VmHWM belongs to the child's own
# address space, created by exec, so it is the function's figure alone.


@dataclass
class ColdStart:
    function: str
    runs: int
    import_ms: float  # medians over the runs
    first_event_ms: float
    in_process_ms: float  # from the child's first line to the end of the first event
    process_ms: float  # the whole child process, as the parent saw it
    rss_mb: float
    status: Any  # the first event's statusCode


def site_packages(requirements: str, cache: Path) -> Path:
    """What build.sh installs for a deployed function (`pip install --target`), built once per
    requirements text. The dev virtualenv holds more (SendGrid's cryptography, which PyJWT then
    imports), so a function measured there would load what its deployed copy does not have."""
    target = cache / f"site-{hashlib.sha256(requirements.encode()).hexdigest()[:12]}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        (target / "requirements.txt").write_text(requirements)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", str(target), "-r", str(target / "requirements.txt")], check=True, timeout=600)
        (target / ".complete").touch()
    return target


# The reference a function's cold start is held to: the least a pydantic function can do. It imports
# pydantic, declares one model and validates its one event with it (what every IMS function does
# at the least), measured exactly as a function is, on the same interpreter and packages.
REFERENCE = '''"""The cold-start reference: one pydantic model, one event validated, one response."""

from typing import Dict

from pydantic import BaseModel, ConfigDict, Field


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    method: str = Field(alias="__ow_method")
    path: str = Field("", alias="__ow_path")
    headers: Dict[str, str] = Field(default_factory=dict, alias="__ow_headers")


def main(args, context=None):
    event = Event.model_validate(args)
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": event.model_dump_json(include={"method", "path"})}
'''


def reference_source(folder: Path) -> Path:
    """The REFERENCE function written to `folder`/__main__.py."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "__main__.py"
    if not source.exists() or source.read_text() != REFERENCE:
        source.write_text(REFERENCE)
    return source


def measure(root: Path, function: str, event: dict[str, Any], env: dict[str, str], site: Path,
            runs: int = 7, source: Path | None = None) -> ColdStart:
    """`function` is "package/name" (or, with `source`, a label for that file); the child runs with
    cwd = the repo root, without the dev virtualenv (-S), on the function's own dependencies in
    `site` (see site_packages)."""
    source = source or root / "functions" / function / "__main__.py"
    samples: list[dict[str, Any]] = []
    payload = json.dumps(event)
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-S", "-c", _CHILD, str(root), str(source), str(site)],
                              input=payload, capture_output=True, text=True, cwd=root, env=env, timeout=60)
        wall = time.perf_counter() - began
        if done.returncode != 0:
            raise RuntimeError(f"cold start of {function} failed:\n{done.stderr[-2000:]}")
        report = json.loads(done.stdout.strip().splitlines()[-1])
        report["wall"] = wall
        samples.append(report)

    def median(key: str) -> float:
        return statistics.median(s[key] for s in samples)

    return ColdStart(function=function, runs=runs, import_ms=median("import") * 1000,
                     first_event_ms=median("first") * 1000, in_process_ms=median("total") * 1000,
                     process_ms=median("wall") * 1000, rss_mb=median("rss_kib") / 1024,
                     status=samples[0]["status"])



