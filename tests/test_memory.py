"""``purenet.base.memory.available_memory``: the host's available memory and the cgroup's limit.

Each test makes a fake root (``proc/meminfo``, ``proc/self/cgroup``, ``sys/fs/cgroup/...``)
and points the reader at it: real cgroups are never touched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from purenet.base.memory import available_memory, cgroup_available

GB = 10**9


def fake_root(tmp_path: Path, *, host: int | None = 20 * GB, cgroup: str | None = None,
              files: dict[str, str] | None = None) -> Path:
    """A root with ``host`` bytes MemAvailable, /proc/self/cgroup ``cgroup``, and ``files``
    (paths under sys/fs/cgroup -> content)."""
    (tmp_path / "proc/self").mkdir(parents=True)
    if host is not None:
        (tmp_path / "proc/meminfo").write_text(f"MemTotal:       99999999 kB\nMemAvailable:   {host // 1024} kB\n")
    if cgroup is not None:
        (tmp_path / "proc/self/cgroup").write_text(cgroup)
    for name, content in (files or {}).items():
        path = tmp_path / "sys/fs/cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return tmp_path


def test_without_a_cgroup_limit_the_host_decides(tmp_path):
    root = fake_root(tmp_path, cgroup="0::/user.slice\n", files={"user.slice/memory.max": "max\n",
                                                                 "user.slice/memory.current": "123456\n"})
    assert available_memory(root) == 20 * GB // 1024 * 1024
    assert cgroup_available(root) is None


def test_a_v2_limit_below_the_host_wins(tmp_path):
    root = fake_root(tmp_path, cgroup="0::/docker/abc\n", files={
        "docker/abc/memory.max": "2000000000\n", "docker/abc/memory.current": "500000000\n",
        "docker/abc/memory.stat": "anon 400000000\ninactive_file 100000000\nactive_file 0\n"})
    # the limit less what the group uses, less the page cache it could drop
    assert available_memory(root) == 2 * GB - (500_000_000 - 100_000_000)


def test_an_ancestors_v2_limit_applies_too(tmp_path):
    root = fake_root(tmp_path, cgroup="0::/kubepods/pod1/ctr\n", files={
        "kubepods/pod1/memory.max": "1000000000\n", "kubepods/pod1/memory.current": "300000000\n",
        "kubepods/pod1/ctr/memory.max": "max\n", "kubepods/pod1/ctr/memory.current": "200000000\n"})
    assert available_memory(root) == 700_000_000


def test_inside_a_container_the_group_is_the_mounts_root(tmp_path):
    """/proc/self/cgroup names a path the container's mount does not show: read the mount's root."""
    root = fake_root(tmp_path, cgroup="0::/../../host/path\n", files={"memory.max": "536870912\n", "memory.current": "0\n"})
    assert available_memory(root) == 536870912


def test_a_v1_limit(tmp_path):
    root = fake_root(tmp_path, cgroup="12:cpu,cpuacct:/x\n4:memory:/process_api/abc\n1:name=systemd:/\n0::/\n", files={
        "memory/memory.limit_in_bytes": "9223372036854771712\n",  # v1's "no limit" at the top
        "memory/process_api/abc/memory.limit_in_bytes": "3000000000\n",
        "memory/process_api/abc/memory.usage_in_bytes": "1000000000\n",
        "memory/process_api/abc/memory.stat": "cache 5\ntotal_inactive_file 200000000\n"})
    assert available_memory(root) == 3 * GB - 800_000_000


def test_v1_without_a_limit_leaves_the_host(tmp_path):
    root = fake_root(tmp_path, cgroup="4:memory:/a\n", files={"memory/a/memory.limit_in_bytes": "9223372036854771712\n",
                                                              "memory/a/memory.usage_in_bytes": "5\n"})
    assert available_memory(root) == 20 * GB // 1024 * 1024


def test_a_group_already_over_its_limit_has_no_room(tmp_path):
    root = fake_root(tmp_path, cgroup="0::/\n", files={"memory.max": "100\n", "memory.current": "500\n"})
    assert available_memory(root) == 0


@pytest.mark.parametrize("content", ["", "garbage", "0::\n", "::::\n"])
def test_unreadable_cgroup_files_leave_the_host(tmp_path, content):
    root = fake_root(tmp_path, cgroup=content, files={"memory.max": "not a number\n"})
    assert available_memory(root) == 20 * GB // 1024 * 1024


@pytest.mark.parametrize("garbage", ["\u00b2", "\u0661\u0662", "9" * 5000, "１２"])
@pytest.mark.parametrize("file", ["memory.max", "memory.current", "memory.stat"])
def test_a_cgroup_number_that_is_not_plain_digits_is_ignored_not_a_crash(tmp_path, file, garbage):
    """Digits Python's isdigit() accepts but int() refuses (superscripts), other scripts' digits,
    and numbers longer than int() converts are no number: that file is read as absent."""
    files = {"memory.max": "1000000000\n", "memory.current": "300000000\n", "memory.stat": "inactive_file 0\n"}
    files[file] = f"inactive_file {garbage}\n" if file == "memory.stat" else f"{garbage}\n"
    room = available_memory(fake_root(tmp_path, cgroup="0::/\n", files=files))
    assert room == {"memory.max": 20 * GB // 1024 * 1024, "memory.current": GB, "memory.stat": 700_000_000}[file]


def test_nothing_readable_gives_none(tmp_path):
    assert available_memory(fake_root(tmp_path, host=None)) is None


def test_the_memory_check_of_a_run_reads_the_cgroup(tmp_path, monkeypatch):
    """A run that fits the host but not the container is refused, not killed (exit 137)."""
    from purenet.runs.config import ConfigError, RunConfig, check_fits

    root = fake_root(tmp_path, cgroup="0::/\n", files={"memory.max": "50000000\n", "memory.current": "10000000\n"})
    monkeypatch.setattr("purenet.base.memory.SYSTEM_ROOT", str(root))
    with pytest.raises(ConfigError, match="40.0 MB is available"):
        check_fits(RunConfig(layers=(784, 4096, 4096, 10)))
