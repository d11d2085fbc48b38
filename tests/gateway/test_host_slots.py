"""The front's bcrypt bound (gateway.locks.HostSlots): shared by every worker process, freed by a
worker that dies holding it, and never waited for by more than a few of a worker's threads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.locks import HostSlots
from localenv import process
from shared import errors
from tests.conftest import ROOT, wait_until


@contextmanager
def held_elsewhere(directory: Path, size: int) -> Iterator[subprocess.Popen[str]]:
    """Another process (a worker) that takes a slot and keeps it until it is killed."""
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from gateway.locks import HostSlots
        with HostSlots(Path({str(directory)!r}), {size}, max_waiting=1):
            print("held", flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.read_line(proc, 30) == "held"
        yield proc
    finally:
        proc.kill()
        process.stop(proc, 5)


class Entrant:
    """A thread of this process that enters the slots and stays until told to leave."""

    def __init__(self, slots: HostSlots) -> None:
        self.entered, self._leave = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, args=(slots,), daemon=True)
        self._thread.start()

    def _run(self, slots: HostSlots) -> None:
        with slots:
            self.entered.set()
            self._leave.wait(30)

    def leave(self) -> None:
        self._leave.set()
        self._thread.join(5)


def test_a_slot_held_by_another_process_is_waited_for_and_freed_when_that_process_dies(tmp_path):
    with held_elsewhere(tmp_path, 1) as holder:
        entrant = Entrant(HostSlots(tmp_path, 1, max_waiting=1))
        assert not entrant.entered.wait(0.5), "entered while the only slot was held by another process"
        holder.kill()  # a worker killed mid-check: its lock goes with it
        wait_until(entrant.entered.is_set, what="the slot to be free once its holder died")
        entrant.leave()


def test_as_many_holders_as_slots_across_processes_and_threads(tmp_path):
    with held_elsewhere(tmp_path, 2):
        slots = HostSlots(tmp_path, 2, max_waiting=1)
        first = Entrant(slots)
        wait_until(first.entered.is_set, what="the second of two slots")
        second = Entrant(slots)
        assert not second.entered.wait(0.5), "a third holder entered two slots"
        first.leave()  # its slot passes to the waiting one
        wait_until(second.entered.is_set, what="the freed slot")
        second.leave()


def test_past_max_waiting_a_request_is_refused_at_once_instead_of_holding_a_thread(tmp_path):
    with held_elsewhere(tmp_path, 1) as holder:
        slots = HostSlots(tmp_path, 1, max_waiting=1)
        waiting = Entrant(slots)  # the one thread allowed to wait
        wait_until(lambda: slots._waiting == 1, what="the first waiter")  # no outward sign of waiting but this
        with pytest.raises(errors.ServiceUnavailable) as refused:
            with slots:
                pass
        assert refused.value.headers == {"Retry-After": "1"} and refused.value.code == "busy"
        holder.kill()
        wait_until(waiting.entered.is_set, what="the waiter to get the freed slot")
        waiting.leave()
