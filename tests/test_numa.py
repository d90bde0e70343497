"""NUMA placement: memory policies, numastat accounting, writeback page placement."""

from __future__ import annotations

from perfmodel.config.scenario import MempolicySpec
from perfmodel.kernel.mempolicy import Mempolicy, NumaStat

NODE1_CPUS = "18-35"


def _check_numastat_identities(r):
    st = r.numa["numastat"]
    assert sum(n["numa_miss"] for n in st.values()) == sum(n["numa_foreign"] for n in st.values())
    for n in st.values():
        assert n["local_node"] + n["other_node"] == n["numa_hit"] + n["numa_miss"]


def test_policy_targets():
    il = Mempolicy(MempolicySpec(mode="interleave", nodes="0-1"))
    assert [il.target(0, i)[0] for i in range(4)] == [0, 1, 0, 1]
    bind = Mempolicy(MempolicySpec(mode="bind", nodes="1"))
    assert bind.target(0, 7) == (1, (1,), False)
    assert Mempolicy(MempolicySpec()).target(1, 3) == (1, None, False)


def test_numastat_counts_like_zone_statistics():
    s = NumaStat(2)
    s.account(preferred=0, got=1, cpu_node=0, interleave=False)
    s.account(preferred=1, got=1, cpu_node=1, interleave=True)
    assert s.numa_miss == [0, 1] and s.numa_foreign == [1, 0]
    assert s.numa_hit == [0, 1] and s.interleave_hit == [0, 1]
    assert s.other_node == [0, 1] and s.local_node == [0, 1]


def test_interleave_spreads_pages_evenly(small_run):
    r = small_run("memory.ram=512MiB", "workload.processes.0.mempolicy.mode=interleave",
                  "workload.processes.0.mempolicy.nodes=0-1")
    st = r.numa["numastat"]
    hits = [st["node0"]["interleave_hit"], st["node1"]["interleave_hit"]]
    assert abs(hits[0] - hits[1]) <= 1
    assert sum(hits) == 96 * 256
    _check_numastat_identities(r)


def test_bind_to_remote_node(small_run):
    r = small_run("memory.ram=512MiB", "workload.processes.0.cpus=0",
                  "workload.processes.0.mempolicy.mode=bind",
                  "workload.processes.0.mempolicy.nodes=1")
    st = r.numa["numastat"]
    assert st["node1"]["other_node"] == 96 * 256  # CPU 0 is on node 0
    assert st["node0"]["numa_hit"] == 0
    assert r.numa["resident_pages_per_node"][0] == 0
    # Every access crosses the interconnect.
    assert r.numa["cross_node_bytes"] >= 96 * 256 * 4096


def test_writeback_page_follows_task_or_vma_policy(small_run):
    """Workload on node 1 with its memory bound there; the shrink worker runs on CPU 0."""
    common = [
        "workload.processes.0.cpus=" + NODE1_CPUS.split("-")[0],
        "workload.processes.0.mempolicy.mode=bind",
        "workload.processes.0.mempolicy.nodes=1",
        "zswap.max_pool_percent=3",
        "workload.processes.0.passes=4",
        "workload.processes.0.pattern.kind=uniform",
    ]
    task = small_run(*common, "zswap.writeback_alloc=task")
    vma = small_run(*common, "zswap.writeback_alloc=vma")
    assert task.vmstat["zswpwb"] > 0 and vma.vmstat["zswpwb"] > 0
    # With task policy the writeback pages land on the kworker's node 0.
    assert task.numa["numastat"]["node0"]["numa_hit"] > 0
    assert vma.numa["numastat"]["node0"]["numa_hit"] + vma.numa["numastat"]["node0"][
        "numa_miss"] < task.numa["numastat"]["node0"]["numa_hit"]
    _check_numastat_identities(task)
    _check_numastat_identities(vma)
