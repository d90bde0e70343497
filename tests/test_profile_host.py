"""profile-host: topology from a fake sysfs, pagebench parsing, a profile that validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from perfmodel.config import load_profile
from perfmodel.profiling.host import (
    DeviceStats,
    parse_pagebench,
    read_topology,
    render_profile,
    size_dist,
)

DATA = Path(__file__).parent / "data"


def _fake_tree(root: Path) -> None:
    (root / "proc").mkdir(parents=True)
    (root / "proc/cpuinfo").write_text(
        "".join(f"processor\t: {i}\nmodel name\t: Test CPU\ncpu MHz\t\t: 2400.000\n\n"
                for i in range(4))
    )
    (root / "proc/meminfo").write_text("MemTotal:       8388608 kB\n")
    cpu = root / "sys/devices/system/cpu"
    cpu.mkdir(parents=True)
    (cpu / "online").write_text("0-3\n")
    for c in range(4):
        t = cpu / f"cpu{c}/topology"
        t.mkdir(parents=True)
        (t / "physical_package_id").write_text(f"{c // 2}\n")
        (t / "core_id").write_text(f"{c % 2}\n")
        (t / "thread_siblings_list").write_text(f"{c}\n")
    for n in range(2):
        nd = root / f"sys/devices/system/node/node{n}"
        nd.mkdir(parents=True)
        (nd / "cpulist").write_text(f"{2 * n}-{2 * n + 1}\n")
        (nd / "meminfo").write_text(f"Node {n} MemTotal:       4194304 kB\n")
        (nd / "distance").write_text("10 21\n" if n == 0 else "21 10\n")


def test_topology_from_sysfs(tmp_path: Path):
    _fake_tree(tmp_path)
    t = read_topology(tmp_path)
    assert (t.sockets, t.cores_per_socket, t.threads_per_core) == (2, 2, 1)
    assert t.clock_ghz == 2.4
    assert [n["cpus"] for n in t.nodes] == [[0, 1], [2, 3]]
    assert t.nodes[1]["memory_bytes"] == 4 << 30
    assert t.distances == [[10, 21], [21, 10]]


def test_parse_pagebench_sample():
    comps, mem = parse_pagebench((DATA / "pagebench-sample.txt").read_text())
    assert {"lz4", "zstd", "lzo", "lz4hc", "deflate"} <= set(comps)
    text = comps["lz4"]["text"]
    assert 1000 < text.size_p50 < 3000
    # Random pages do not compress: every compressor's output exceeds a page.
    assert all(comps[c]["incompressible"].size_min > 4096 for c in comps)
    assert mem["copy_mbps"] > 0 and mem["latency_ns"] > 0


def test_size_dist_fits_quantiles():
    comps, _ = parse_pagebench((DATA / "pagebench-sample.txt").read_text())
    assert size_dist(comps["lz4"]["incompressible"]).startswith("{dist: fixed")
    d = size_dist(comps["zstd"]["text"])
    assert "lognormal" in d and f"median: {round(comps['zstd']['text'].size_p50)}" in d


def test_rendered_profile_validates(tmp_path: Path):
    _fake_tree(tmp_path)
    comps, mem = parse_pagebench((DATA / "pagebench-sample.txt").read_text())
    comps["lzo-rle"] = comps["lzo"]
    dev = DeviceStats([80.0 + i % 7 for i in range(200)], [20.0 + i % 3 for i in range(200)],
                      2000.0, 900.0, 1 << 30)
    text = render_profile("fake-host", read_topology(tmp_path), comps, mem,
                          [("swap0", "nvme", dev, "")], "test")
    path = tmp_path / "fake-host.yaml"
    path.write_text(text)
    hw = load_profile(path)
    assert hw.cpu.n_cpus == 4 and len(hw.numa.nodes) == 2
    assert hw.swap_devices["swap0"].read_latency_us.median == pytest.approx(83.0, abs=1)
    assert set(hw.compressors) == {"lz4", "lz4hc", "zstd", "lzo", "lzo-rle", "deflate"}
    # Every measured number carries a comment saying how it was measured.
    numeric = re.compile(r"(:\s*[\d\[{])|^\s*- \[")
    for line in text.splitlines():
        body = line.split("#")[0]
        if numeric.search(body) and not body.strip().startswith(("name:", "description:")):
            assert "#" in line, line
