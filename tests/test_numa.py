"""NUMA placement: memory policies, numastat accounting, the allocator's fallback, task
placement, writeback page placement, the NUMA scenario and the lab's mempolicy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import simpy
import yaml

from perfmodel import api
from perfmodel.config import load_profile, load_scenario
from perfmodel.config.scenario import MempolicySpec
from perfmodel.errors import ConfigError
from perfmodel.hw.compressor import TEXT
from perfmodel.hw.cpu import CPU
from perfmodel.hw.numa import Topology
from perfmodel.kernel.mempolicy import Mempolicy, NumaStat
from perfmodel.kernel.page_alloc import PageAllocator
from perfmodel.kernel.pages import RESIDENT
from perfmodel.kernel.sched import Task
from perfmodel.lab import console as con
from perfmodel.lab.guest import init_script, plan_guest
from perfmodel.numa_compare import parse_vary, table

ROOT = Path(__file__).resolve().parents[1]
NODE1_CPUS = "18-35"
SEED_SCENARIO = ROOT / "scenarios" / "numa" / "writeback-remote.yaml"
# The seed scenario cut to a quarter of a second after the fill.
SHORT = ["workload.processes.0.duration_s=0.25"]
LAB_SCENARIO = ROOT / "lab" / "scenarios" / "lab-usemem.yaml"


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


# ---- the page allocator's zonelist walk ----


def _allocator(free: tuple[int, int]) -> tuple[simpy.Environment, PageAllocator]:
    """Two nodes of 10000 pages, min/low/high 100/125/150, with `free` pages free."""
    env = simpy.Environment()
    topo = Topology(load_profile("xeon-2s-nvme"))
    alloc = PageAllocator(env, topo, [10000, 10000], 4096, 800, 10)
    assert [(n.wmark_min, n.wmark_low, n.wmark_high) for n in alloc.nodes] == [(100, 125, 150)] * 2
    for nd, f in zip(alloc.nodes, free, strict=True):
        nd.free = f
        nd.kswapd_wake = env.event()
    return env, alloc


def test_fast_path_falls_back_without_waking_kswapd():
    """get_page_from_freelist(): a node below low is passed over silently."""
    _, alloc = _allocator((120, 5000))
    assert alloc.alloc(0, 0) == 1
    assert alloc.kswapd_wakeups == 0
    st = alloc.stat
    assert st.numa_miss == [0, 1] and st.numa_foreign == [1, 0] and st.other_node == [0, 1]


def test_slow_path_wakes_every_kswapd_and_takes_the_preferred_node():
    """Every node below low: wake_all_kswapds(), then the min watermark, zonelist order."""
    _, alloc = _allocator((120, 120))
    assert alloc.alloc(1, 1) == 1
    assert alloc.kswapd_wakeups == 2
    assert all(nd.kswapd_wake is not None and nd.kswapd_wake.triggered for nd in alloc.nodes)
    assert alloc.stat.numa_hit == [0, 1]


def test_balanced_node_keeps_its_kswapd_asleep():
    """wakeup_kswapd() returns early for a node above its high watermark."""
    _, alloc = _allocator((200, 120))
    alloc.wake_kswapd(0)
    alloc.wake_kswapd(1)
    assert alloc.kswapd_wakeups == 1
    assert alloc.nodes[0].kswapd_wake is not None and not alloc.nodes[0].kswapd_wake.triggered


def test_memalloc_takes_the_fast_path_first():
    """A PF_MEMALLOC allocation still prefers a node above low to the reserves."""
    _, alloc = _allocator((50, 5000))
    assert alloc.alloc_memalloc(0, 0) == 1
    _, alloc = _allocator((50, 40))
    assert alloc.alloc_memalloc(1, 1) == 1  # below min everywhere: no watermarks, in order
    _, alloc = _allocator((0, 0))
    assert alloc.alloc_memalloc(0, 0) == -1


def test_zspage_fallback_counts_a_miss():
    _, alloc = _allocator((120, 5000))
    nid = alloc.fallback_node(0)
    assert nid == 1
    assert alloc.take(nid, 4, cpu_node=0, preferred=0)
    assert alloc.stat.numa_miss == [0, 4] and alloc.stat.numa_foreign == [4, 0]
    assert alloc.nodes[1].free == 4996


# ---- task placement ----


def _cpus(env: simpy.Environment) -> list[CPU]:
    return [CPU(env, 0, 0), CPU(env, 1, 1)]


def test_idle_cpu_pulls_a_task_that_waits_behind_kswapd():
    """An unpinned task that ends its slice with a kthread waiting moves to the idle CPU;
    a pinned one stays and takes turns."""
    for allowed, want in ((True, 1), (False, 0)):
        env = simpy.Environment()
        cpus = _cpus(env)
        task = Task(env, "usemem", cpus[0], pid=0, allowed=cpus if allowed else None)
        kthread = Task(env, "kswapd0", cpus[0])

        def worker(task=task, env=env):
            yield from task.acquire()
            task.pending += 1e-3
            yield env.timeout(0)  # let the kthread queue up
            yield from task.maybe_yield_cpu()
            task.release()

        def kswapd(kthread=kthread):
            yield from kthread.acquire()
            kthread.pending += 2e-3
            yield from kthread.flush()
            kthread.release()

        env.process(worker())
        env.process(kswapd())
        env.run()
        assert task.cpu.id == want
        assert task.migrations == ([1, 1] if allowed else [0, 0])
        assert kthread.cpu.id == 0


def test_waking_task_stays_on_its_node():
    """select_task_rq_fair(): a busy previous CPU sends a waking task to an idle CPU of the
    same node only (the LLC), not across nodes."""
    env = simpy.Environment()
    cpus = [CPU(env, 0, 0), CPU(env, 1, 0), CPU(env, 2, 1)]
    busy = cpus[0].res.request()
    task = Task(env, "t", cpus[0], pid=0, allowed=cpus)

    def wake():
        yield from task.acquire()

    env.process(wake())
    env.run()
    assert task.cpu.id == 1 and busy.triggered
    env2 = simpy.Environment()
    cpus2 = [CPU(env2, 0, 0), CPU(env2, 1, 1)]
    cpus2[0].res.request()
    task2 = Task(env2, "t", cpus2[0], pid=0, allowed=cpus2)
    env2.process(task2.acquire())
    env2.run()
    assert task2.cpu.id == 0 and task2.migrations == [0, 0]


# ---- small runs on the two-socket profile ----


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

    # Each pass counts its accesses by the CPU that made them (usemem's cpu_pages).
    for ps in r.to_dict()["workload"]["processes"][0]["passes"]:
        assert ps["cpu_pages"][0] == ps["accesses"] and sum(ps["cpu_pages"]) == ps["accesses"]


def test_local_policy_falls_back_to_the_other_node(small_run):
    """A local-policy task on node 0 fills node 0 to its low watermark, then takes node 1's
    pages without waking kswapd, as numa_miss on node 1."""
    r = small_run("memory.ram=128MiB", "workload.processes.0.footprint=80MiB",
                  "workload.processes.0.passes=1")
    st = r.numa["numastat"]
    assert st["node1"]["numa_miss"] > 0
    assert st["node1"]["numa_miss"] == st["node0"]["numa_foreign"]
    assert st["node1"]["other_node"] >= st["node1"]["numa_miss"]
    _check_numastat_identities(r)


# A uniform-access worker on node 1's first CPU with its memory bound there, and a
# pool small enough to write back.
BOUND_TO_NODE1 = (
    "workload.processes.0.cpus=" + NODE1_CPUS.split("-")[0],
    "workload.processes.0.mempolicy.mode=bind",
    "workload.processes.0.mempolicy.nodes=1",
    "zswap.max_pool_percent=3",
    "workload.processes.0.passes=4",
    "workload.processes.0.pattern.kind=uniform",
)


def test_writeback_page_follows_task_or_vma_policy(small_run):
    """Workload on node 1 with its memory bound there; the shrink worker runs on CPU 0
    (booted with workqueue.default_affinity_scope=system; by default it would run in
    node 1's worker pool, where its work was queued)."""
    common = ["kernel.workqueue_default_affinity_scope=system", *BOUND_TO_NODE1]
    task = small_run(*common, "zswap.writeback_alloc=task")
    vma = small_run(*common, "zswap.writeback_alloc=vma")
    assert task.vmstat["zswpwb"] > 0 and vma.vmstat["zswpwb"] > 0
    # With task policy the writeback pages land on the kworker's node 0.
    assert task.numa["numastat"]["node0"]["numa_hit"] > 0
    assert vma.numa["numastat"]["node0"]["numa_hit"] + vma.numa["numastat"]["node0"][
        "numa_miss"] < task.numa["numastat"]["node0"]["numa_hit"]
    _check_numastat_identities(task)
    _check_numastat_identities(vma)


def test_by_default_the_shrink_work_stays_on_the_queuing_node(small_run):
    """workqueue.default_affinity_scope=cache (the default): the node-1 workload and
    kswapd1 queue the shrink work, an idle CPU of node 1 runs it, and with task policy
    its writeback pages prefer node 1: node 0 sees none of them."""
    r = small_run(*BOUND_TO_NODE1, "zswap.writeback_alloc=task")
    assert r.vmstat["zswpwb"] > 0
    assert r.numa["numastat"]["node0"]["numa_hit"] == 0
    _check_numastat_identities(r)


# ---- the seed scenario: a service bound to node 1, writeback on node 0 ----


@pytest.fixture(scope="module")
def seed_runs():
    return {
        how: api.run(SEED_SCENARIO, "xeon-2s-nvme", [*SHORT, f"zswap.writeback_alloc={how}"])
        for how in ("task", "vma")
    }


def test_seed_task_policy_puts_writeback_pages_on_the_kworkers_node(seed_runs):
    """alloc_page(): node 0 gets exactly the pages written back, all allocated by a node-0
    CPU (the kworker); the service's node-1 CPUs allocate nothing on node 0."""
    r = seed_runs["task"]
    st = r.numa["numastat"]
    wb = r.vmstat["zswpwb"]
    assert wb > 1000
    assert st["node0"]["numa_hit"] == st["node0"]["local_node"] == wb
    # Anything else on node 0 came from node-1 CPUs: zsmalloc pages of kswapd1 or the
    # service (the reclaimer's node before 6.16) when node 1 was below its low watermark.
    assert st["node0"]["numa_miss"] == st["node0"]["other_node"]
    assert st["node1"]["other_node"] == 0  # no node-0 CPU allocated on node 1
    _check_numastat_identities(r)


def test_seed_vma_policy_keeps_writeback_pages_on_the_bound_node(seed_runs):
    """alloc_page_vma(): the kworker on node 0 allocates every writeback page on node 1,
    so node 1's other_node is the writeback count and node 0 is untouched."""
    r = seed_runs["vma"]
    st = r.numa["numastat"]
    wb = r.vmstat["zswpwb"]
    assert wb > 1000
    assert st["node0"]["numa_hit"] == st["node0"]["local_node"] == 0
    assert st["node1"]["other_node"] == wb
    assert st["node1"]["numa_miss"] == 0  # nothing preferring node 0 was allocated
    _check_numastat_identities(r)


def test_seed_vma_policy_moves_more_bytes_across_nodes(seed_runs):
    """The kworker on node 0 decompresses each entry either into a local page (task) or
    into a node-1 page (vma), a page more across the interconnect per writeback. Under
    the task policy the written folio then stays on node 0 in the swap cache (node 0 has
    no reclaim), and a service thread that touches it again maps a remote page, which
    gives back part of that difference."""
    task, vma = seed_runs["task"], seed_runs["vma"]
    per_wb_task = task.numa["cross_node_bytes"] / task.vmstat["zswpwb"]
    per_wb_vma = vma.numa["cross_node_bytes"] / vma.vmstat["zswpwb"]
    assert 0.25 * 4096 < per_wb_vma - per_wb_task < 4096


def test_seed_scenario_needs_two_nodes(tmp_path: Path):
    """On a single-node profile the scenario stops with one line naming the key."""
    with pytest.raises(ConfigError, match=r"workload\.processes\[0\]\.cpus: CPU 18 does not "
                                          r"exist \(profile laptop-2vcpu-sata has 2 CPUs\)"):
        api.run(SEED_SCENARIO, "laptop-2vcpu-sata")
    # The two-socket machine as one node: the CPUs exist, node 1 does not.
    data = yaml.safe_load((ROOT / "hardware" / "xeon-2s-nvme.yaml").read_text())
    data["name"] = "xeon-one-node"
    data["numa"] = {"nodes": [{"id": 0, "memory": "192GiB", "cpus": "0-71"}],
                    "distances": [[10]], "latency_ns": [[90.2]], "bandwidth_mbps": [[104362.2]]}
    one = tmp_path / "xeon-one-node.yaml"
    one.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"workload\.processes\[0\]\.mempolicy\.nodes: node 1 "
                                          r"does not exist \(profile xeon-one-node has 1 "
                                          r"node\(s\)\)"):
        api.run(SEED_SCENARIO, one)


def test_numa_compare_table(seed_runs):
    assert parse_vary("zswap.writeback_alloc=task,vma") == ("zswap.writeback_alloc",
                                                           ["task", "vma"])
    with pytest.raises(Exception, match="expected KEY.PATH=V1,V2"):
        parse_vary("zswap.writeback_alloc=task")
    t = table("zswap.writeback_alloc", ["task", "vma"], [seed_runs["task"], seed_runs["vma"]])
    labels = list(t.columns[0].cells)
    assert "node0 numa_hit" in labels and "node1 nr_zspages (end)" in labels
    assert "cross-node traffic (MiB)" in labels and "fault p99 (µs)" in labels
    assert [c.header for c in t.columns[1:]] == ["task", "vma", "vma - task"]


# ---- the lab's memory policy ----


def test_lab_passes_the_mempolicy_to_usemem():
    sc = load_scenario(LAB_SCENARIO, ["workload.processes.0.mempolicy.mode=interleave",
                                      "workload.processes.0.mempolicy.nodes=0-1",
                                      "workload.processes.0.cpus=1"])
    plan = plan_guest(sc, load_profile("lab-qemu-2node"), str(LAB_SCENARIO))
    args = list(plan.usemem_args)
    assert args[args.index("--mempolicy") + 1] == "interleave:0-1"
    run = next(ln for ln in init_script(plan, []).splitlines() if "/bin/usemem" in ln)
    assert run.startswith("taskset -c 1 /bin/usemem") and "--mempolicy interleave:0-1" in run
    local = plan_guest(load_scenario(LAB_SCENARIO), load_profile("lab-qemu-2node"))
    assert "--mempolicy" not in local.usemem_args




def test_usemem_mbind_and_cpu_pages(usemem: Path):
    """mbind() to node 0 works on any host; each pass reports the pages touched per CPU."""
    out = subprocess.run([str(usemem), "1M", "--passes", "1", "--mempolicy", "bind:0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout[-300:]
    c = con.parse_console(out.stdout)
    assert [sum(p["cpu_pages"]) for p in c.passes] == [256, 256]
    bad = subprocess.run([str(usemem), "1M", "--mempolicy", "preferred:0-1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "usage:" in bad.stderr


def test_usemem_mbind_to_a_missing_node_fails(usemem: Path):
    if Path("/sys/devices/system/node/node63").exists():
        pytest.skip("host has a node 63")
    out = subprocess.run([str(usemem), "1M", "--mempolicy", "bind:63"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "@@ERROR mbind" in out.stdout


def test_direct_reclaim_visits_every_node_of_the_zonelist():
    """shrink_zones() (every release): direct reclaim shrinks each node of the zonelist
    once, each to its own SWAP_CLUSTER_MAX (shrink_lruvec() counts from zero per node),
    rather than stopping at the first node that gives back enough."""
    from perfmodel.machine import Machine

    sc, prof = api.prepare("usemem", "xeon-2s-nvme", [
        "memory.ram=64MiB", "memory.reserved=8MiB", "swap.size=512MiB",
        "workload.processes.0.footprint=8MiB", "workload.processes.0.start_s=1000"], [])
    m = Machine(sc, prof, seed=1)
    pt = m.pt
    for nid, pages in ((0, range(0, 200)), (1, range(200, 400))):
        for p in pages:
            pt.state[p] = RESIDENT
            pt.node[p] = nid
            pt.dirty[p] = True
            pt.content[p] = TEXT
            pt.csize[p] = 2000
            m.lrus[nid].add_inactive(p)
        m.memcg.pages += len(pages)
    m.env.run(until=1e-9)  # the kswapds are asleep; keep them so
    for nd in m.alloc.nodes:
        nd.free = nd.wmark_min  # the slow path fails: direct reclaim
        nd.kswapd_wake = None
    got = []

    def faulting():
        t = Task(m.env, "usemem", m.cpus[0])
        yield from t.acquire()
        got.append((yield from m.reclaim.alloc_page(t, 0)))

    m.env.process(faulting())
    m.env.run(until=1e-3)
    assert len(got) == 1 and m.counters.allocstall == 1
    left = [sum(pt.state[p] == RESIDENT for p in r) for r in (range(0, 200), range(200, 400))]
    assert left == [200 - 32, 200 - 32]
    assert m.counters.pgsteal_direct == 64
