"""The CPUs usable, from the affinity mask and cgroup v1/v2 quotas: real files, odd ones, hostile ones."""

from __future__ import annotations

import os
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from alligator.cpus import DEFAULT_THREADS, UsableCpus, choose, count_usable, plan_pinning, usable_cpus

V2_MOUNTS = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n"
V1_MOUNTS = (
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
)


def reader(files: dict[str, str]):
    def read(path: str) -> str | None:
        value = files.get(path)
        if isinstance(value, BaseException):
            raise value
        return value

    return read


def v2(cpu_max: dict[str, str], own: str = "/kubepods/pod1/c1", online: int = 8, affinity: int | None = 8):
    files = {f"/sys/fs/cgroup{path}/cpu.max".replace("//", "/"): text for path, text in cpu_max.items()}
    return count_usable(online, affinity, f"0::{own}\n", V2_MOUNTS, reader(files))


def test_a_cgroup_v2_quota_of_two_cpus_on_eight():
    cpus = v2({"/kubepods/pod1/c1": "200000 100000\n"})
    assert (cpus.count, cpus.quota, cpus.affinity, cpus.online) == (2, 2.0, 8, 8)
    assert cpus.describe() == "2 CPUs usable: affinity 8 of 8, cgroup quota 2.0"


def test_a_fractional_quota_rounds_up_and_a_tiny_one_is_one_cpu():
    assert v2({"/kubepods/pod1/c1": "150000 100000"}).count == 2
    assert v2({"/kubepods/pod1/c1": "1000 100000"}).count == 1


def test_max_means_no_quota_and_the_affinity_mask_decides():
    cpus = v2({"/kubepods/pod1/c1": "max 100000\n"}, affinity=3)
    assert (cpus.count, cpus.quota) == (3, None)
    assert cpus.describe() == "3 CPUs usable: affinity 3 of 8, no cgroup CPU quota"


def test_a_parent_cgroups_quota_binds_its_children():
    cpus = v2({"/kubepods/pod1/c1": "max 100000", "/kubepods/pod1": "300000 100000", "/kubepods": "max"})
    assert (cpus.count, cpus.quota) == (3, 3.0)


def test_the_smaller_of_affinity_and_quota_wins():
    assert v2({"/kubepods/pod1/c1": "400000 100000"}, affinity=2).count == 2
    assert v2({"/kubepods/pod1/c1": "100000 100000"}, affinity=6).count == 1


def test_a_cgroup_namespace_sees_its_own_cgroup_at_the_mount_point():
    # In a container with its own cgroup namespace /proc/self/cgroup says "0::/".
    cpus = count_usable(64, 64, "0::/\n", V2_MOUNTS, reader({"/sys/fs/cgroup/cpu.max": "250000 100000"}))
    assert cpus.count == 3


def test_a_cgroup_outside_the_mounted_one_reads_the_mount_points_own_files():
    # Docker without a cgroup namespace: the path names the host's cgroup, the mount is the container's.
    mounts = "30 23 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    files = {"/sys/fs/cgroup/cpu.max": "100000 100000"}
    assert count_usable(4, 4, "0::/system.slice/docker-abc.scope\n", mounts, reader(files)).count == 1
    assert count_usable(4, 4, "0::/docker/abc\n", mounts, reader(files)).count == 1


def test_cgroup_v1_quota_and_period():
    files = {
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "50000\n",
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
    }
    proc = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n"
    cpus = count_usable(16, 16, proc, V1_MOUNTS, reader(files))
    assert (cpus.count, cpus.quota) == (1, 0.5)
    assert cpus.describe() == "1 CPU usable: affinity 16 of 16, cgroup quota 0.5"


def test_cgroup_v1_minus_one_is_no_quota():
    files = {
        "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1",
        "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000",
    }
    cpus = count_usable(4, 4, "4:cpu,cpuacct:/\n", V1_MOUNTS, reader(files))
    assert (cpus.count, cpus.quota, cpus.problems) == (4, None, ())


def test_no_cgroup_files_at_all_counts_the_affinity_mask_or_the_cpus_online():
    assert count_usable(8, 2, None, None, reader({})).describe() == (
        "2 CPUs usable: affinity 2 of 8, no cgroup CPU quota"
    )
    # Where there is no affinity mask (macOS), the CPUs online; where nothing is known, one.
    assert count_usable(8, None, None, None, reader({})).describe() == (
        "8 CPUs usable: 8 CPUs online, no affinity mask, no cgroup CPU quota"
    )
    assert count_usable(None, None, None, None, reader({})).count == 1


def test_odd_files_are_ignored_and_said():
    for text in ("", "abc 100000", "-5 100000", "100000 0", "1.5 1", "max 100000 extra", "\x00\xff", "nan 1"):
        cpus = v2({"/kubepods/pod1/c1": text}, affinity=2)
        assert cpus.count == 2 and cpus.quota is None, text
        assert "ignored: /sys/fs/cgroup/kubepods/pod1/c1/cpu.max" in cpus.describe(), text


def test_an_unreadable_file_is_ignored_and_said():
    cpus = v2({"/kubepods/pod1/c1": PermissionError("denied")}, affinity=2)  # type: ignore[dict-item]
    assert cpus.count == 2
    assert "PermissionError: denied" in cpus.describe()


def test_odd_counts_from_the_system_are_ignored():
    cpus = count_usable(0, 0, None, None, reader({}))
    assert cpus.count == 1 and len(cpus.problems) == 2


@given(
    st.one_of(st.none(), st.text(max_size=300)),
    st.one_of(st.none(), st.text(max_size=300)),
    st.dictionaries(st.text(max_size=60), st.text(max_size=40), max_size=5),
    st.one_of(st.none(), st.integers(-3, 300)),
    st.one_of(st.none(), st.integers(-3, 300)),
)
def test_nothing_read_makes_it_raise(proc_cgroup, mountinfo, files, online, affinity):
    # Whatever the files say, under whatever paths: a count of at least 1, never an exception.
    files = {**files, **{f"/sys/fs/cgroup{path}/cpu.max": text for path, text in files.items()}}
    cpus = count_usable(online, affinity, proc_cgroup, mountinfo, reader(files))
    assert cpus.count >= 1
    assert isinstance(cpus.describe(), str)


def test_this_process_and_a_narrower_affinity_mask():
    cpus = usable_cpus()
    assert cpus.count >= 1
    assert choose(None, None).processes == cpus.count
    if not hasattr(os, "sched_setaffinity"):
        return
    # taskset's job, done by the child itself: one CPU in its mask, one CPU usable.
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from alligator.cpus import usable_cpus; print(usable_cpus().count)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def never() -> UsableCpus:
    raise AssertionError("the CPUs were counted")


def test_the_defaults_are_a_process_per_usable_cpu_and_given_flags_always_win():
    def two() -> UsableCpus:
        return count_usable(8, 8, "0::/\n", V2_MOUNTS, reader({"/sys/fs/cgroup/cpu.max": "200000 100000"}))

    def one() -> UsableCpus:
        return count_usable(8, 1, None, None, reader({}))

    def eight() -> list[int]:
        return list(range(8))

    chosen = choose(None, None, cpus=two, mask=eight)
    assert (chosen.processes, chosen.threads, chosen.supervised) == (2, DEFAULT_THREADS, True)
    assert chosen.describe("worker process") == (
        f"2 worker processes x {DEFAULT_THREADS} threads (2 CPUs usable: affinity 8 of 8, cgroup quota 2.0)"
    )
    # One CPU: one process, no supervisor.
    chosen = choose(None, None, cpus=one, mask=eight)
    assert (chosen.processes, chosen.supervised) == (1, False)
    assert (
        chosen.describe()
        == f"1 process x {DEFAULT_THREADS} threads (1 CPU usable: affinity 1 of 8, no cgroup CPU quota)"
    )
    # Given flags win, and say so; without pinning the CPUs are not even counted.
    assert (
        choose(3, 1, cpus=never, pin=False).describe()
        == "3 processes x 1 thread (--processes and --concurrency given)"
    )
    assert choose(1, None, cpus=never).supervised  # --processes 1: a supervisor, for its hard limits
    assert choose(None, 8, cpus=two, mask=eight).describe() == (
        "2 processes x 8 threads (2 CPUs usable: affinity 8 of 8, cgroup quota 2.0; --concurrency given)"
    )
    # --max-tasks counts one worker's tasks: one process; --max-tasks-per-child needs the supervisor.
    assert choose(None, None, max_tasks=5, cpus=two, mask=eight).describe() == (
        f"1 process x {DEFAULT_THREADS} threads (--max-tasks counts one worker's tasks)"
    )
    assert choose(None, None, max_tasks_per_child=5, cpus=one, mask=eight).supervised


def test_a_store_in_this_processs_memory_runs_one_process():
    chosen = choose(None, None, cpus=never, in_process=True)
    assert (chosen.processes, chosen.supervised) == (1, False)
    assert (
        chosen.describe()
        == f"1 process x {DEFAULT_THREADS} threads (the store lives in this process's memory)"
    )


def test_worker_processes_are_pinned_one_to_a_cpu_only_where_that_costs_nothing():
    """Issue 20: one process to a CPU keeps each process's GIL hand-offs on one CPU."""
    two = UsableCpus(2, online=2, affinity=2)
    assert plan_pinning(2, two, [0, 1]) == (0, 1)
    assert plan_pinning(2, UsableCpus(4, online=8, affinity=4), [7, 2, 5, 3]) == (2, 3)
    assert plan_pinning(2, UsableCpus(2, online=2, affinity=2, quota=4.0), [0, 1]) == (0, 1)
    # One process has nothing to gain; more processes than CPUs would share them.
    assert plan_pinning(1, two, [0, 1]) == ()
    assert plan_pinning(3, two, [0, 1]) == ()
    # A quota narrower than the mask is CPU time anywhere on it: not pinned.
    assert plan_pinning(2, UsableCpus(2, online=8, affinity=8, quota=2.0), list(range(8))) == ()
    # No affinity mask on this platform: nothing to pin with.
    assert plan_pinning(2, UsableCpus(2, online=2), None) == ()

    chosen = choose(None, None, cpus=lambda: two, mask=lambda: [0, 1])
    assert (chosen.processes, chosen.pinned) == (2, (0, 1))
    assert chosen.describe("worker process") == (
        f"2 worker processes x {DEFAULT_THREADS} threads "
        "(2 CPUs usable: affinity 2 of 2, no cgroup CPU quota; one CPU each: 0, 1)"
    )
    assert choose(None, None, cpus=lambda: two, mask=lambda: [0, 1], pin=False).pinned == ()
    given = choose(2, 3, cpus=lambda: UsableCpus(4, online=8, affinity=4), mask=lambda: [4, 6, 1, 0])
    assert given.describe() == (
        "2 processes x 3 threads (--processes and --concurrency given; one CPU each: 0, 1)"
    )
    # A single process (one CPU usable, or --max-tasks) is never pinned by latergator.
    assert choose(None, None, max_tasks=5, cpus=never, mask=lambda: [0, 1]).pinned == ()
