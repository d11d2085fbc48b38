"""gateway.serve's default worker count: the CPUs this process may use, capped by a container's limit."""

from __future__ import annotations

import os

from gateway import serve

AFFINITY = len(os.sched_getaffinity(0))


def test_a_cgroup_quota_caps_the_workers_rounded_up(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("50000 100000\n")  # half a CPU: one worker
    assert serve.usable_cpus(cpu_max) == 1
    cpu_max.write_text("150000 100000\n")  # 1.5 CPUs: two, unless this machine has fewer
    assert serve.usable_cpus(cpu_max) == min(2, AFFINITY)


def test_no_quota_or_no_cgroup_file_is_the_affinity(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert serve.usable_cpus(cpu_max) == AFFINITY
    assert serve.usable_cpus(tmp_path / "absent") == AFFINITY
    cpu_max.write_text("garbage\n")
    assert serve.usable_cpus(cpu_max) == AFFINITY


def test_a_quota_above_the_affinity_leaves_the_affinity(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text(f"{(AFFINITY + 3) * 100000} 100000\n")
    assert serve.usable_cpus(cpu_max) == AFFINITY
    assert serve.Settings({"IMS_WORKERS": "3"}).workers == 3
