"""The front's bcrypt bound (gateway.serve.HostSlots): shared by every worker process, freed by a
worker that dies holding it, and never waited for by more than a few of a worker's threads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from gateway.serve import HostSlots
from shared import errors
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _holder(directory: Path, size: int) -> subprocess.Popen[str]:
    """Another process (a worker) that takes a slot and keeps it until it is killed."""
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from gateway.serve import HostSlots
        with HostSlots(Path({str(directory)!r}), {size}, max_waiting=1):
            print("held", flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _end(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(5)
    assert proc.stdout is not None
    proc.stdout.close()


def _enter_in_thread(slots: HostSlots, entered: threading.Event, leave: threading.Event) -> threading.Thread:
    def run() -> None:
        with slots:
            entered.set()
            leave.wait(30)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_slot_held_by_another_process_is_waited_for_and_freed_when_that_process_dies(tmp_path):
    holder = _holder(tmp_path, 1)
    try:
        entered, leave = threading.Event(), threading.Event()
        thread = _enter_in_thread(HostSlots(tmp_path, 1, max_waiting=1), entered, leave)
        assert not entered.wait(0.5), "entered while the only slot was held by another process"
        holder.kill()  # a worker killed mid-check: its lock goes with it
        wait_until(entered.is_set, what="the slot to be free once its holder died")
        leave.set()
        thread.join(5)
    finally:
        _end(holder)


def test_as_many_holders_as_slots_across_processes_and_threads(tmp_path):
    holder = _holder(tmp_path, 2)
    try:
        slots = HostSlots(tmp_path, 2, max_waiting=1)
        first, second, leave = threading.Event(), threading.Event(), threading.Event()
        threads = [_enter_in_thread(slots, first, leave)]
        wait_until(first.is_set, what="the second of two slots")
        threads.append(_enter_in_thread(slots, second, leave))
        assert not second.wait(0.5), "a third holder entered two slots"
        leave.set()  # the first thread leaves: its slot passes to the waiting one
        wait_until(second.is_set, what="the freed slot")
        for thread in threads:
            thread.join(5)
    finally:
        _end(holder)


def test_past_max_waiting_a_request_is_refused_at_once_instead_of_holding_a_thread(tmp_path):
    holder = _holder(tmp_path, 1)
    try:
        slots = HostSlots(tmp_path, 1, max_waiting=1)
        entered, leave = threading.Event(), threading.Event()
        waiting = _enter_in_thread(slots, entered, leave)  # the one thread allowed to wait
        wait_until(lambda: slots._waiting == 1, what="the first waiter")
        with pytest.raises(errors.ServiceUnavailable) as refused:
            with slots:
                pass
        assert refused.value.headers == {"Retry-After": "1"} and refused.value.code == "busy"
        _end(holder)
        wait_until(entered.is_set, what="the waiter to get the freed slot")
        leave.set()
        waiting.join(5)
    finally:
        _end(holder)
