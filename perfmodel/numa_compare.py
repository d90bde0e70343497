"""One scenario run once per value of a key, NUMA placement side by side.

    python -m perfmodel.numa_compare scenarios/numa/writeback-remote.yaml \\
        --hardware xeon-2s-nvme --vary zswap.writeback_alloc=task,vma

prints, per run: the numastat counters of every node, where the zswap pool and
the workload's pages are, the bytes that crossed the interconnect, and the
fault latency, with the difference between the last and first run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from perfmodel import api
from perfmodel.config import DEFAULT_PROFILE
from perfmodel.errors import PerfmodelError
from perfmodel.kernel.mempolicy import NUMASTAT
from perfmodel.results import Result

MiB = 1 << 20


@dataclass(frozen=True)
class Row:
    label: str
    get: Callable[[Result], float]
    fmt: str = ",.0f"


def _node_rows(n: int) -> list[Row]:
    rows: list[Row] = []
    for i in range(n):
        node = f"node{i}"
        for name in NUMASTAT:
            rows.append(Row(f"{node} {name}", lambda r, k=node, c=name: r.numa["numastat"][k][c]))
        rows.append(Row(f"{node} nr_zspages (end)",
                        lambda r, i=i: r.numa["pool_pages_per_node"][i]))
        rows.append(Row(f"{node} resident pages (end)",
                        lambda r, i=i: r.numa["resident_pages_per_node"][i]))
    return rows


def _fault(r: Result, key: str) -> float:
    return float(r.latency["fault"].get(key, 0.0)) if r.latency["fault"].get("count") else 0.0


ROWS = [
    Row("zswpout", lambda r: r.vmstat["zswpout"]),
    Row("zswpwb (written back)", lambda r: r.vmstat.get("zswpwb", r.debugfs["written_back_pages"])),
    Row("pswpout", lambda r: r.vmstat["pswpout"]),
    Row("pgmajfault", lambda r: r.vmstat["pgmajfault"]),
    Row("allocstall (direct reclaim)", lambda r: r.vmstat["allocstall"]),
    Row("cross-node traffic (MiB)", lambda r: r.numa["cross_node_bytes"] / MiB, ",.1f"),
    Row("fault p50 (µs)", lambda r: _fault(r, "p50_us"), ",.1f"),
    Row("fault p99 (µs)", lambda r: _fault(r, "p99_us"), ",.1f"),
    Row("throughput (MB/s)", lambda r: r.workload["throughput_mbps"], ",.1f"),
]


def parse_vary(text: str) -> tuple[str, list[str]]:
    key, sep, values = text.partition("=")
    vals = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not key.strip() or len(vals) < 2:
        raise PerfmodelError(f"--vary: expected KEY.PATH=V1,V2[,...] (got {text!r})")
    return key.strip(), vals


def compare(
    scenario: str, hardware: str, key: str, values: list[str],
    overrides: list[str] | None = None, seed: int | None = None,
) -> list[Result]:
    """One result per value of key, in order; the other settings as given."""
    return [
        api.run(scenario, hardware, [*(overrides or []), f"{key}={v}"], seed) for v in values
    ]


def table(key: str, values: list[str], results: list[Result]) -> Table:
    t = Table(title=f"{key}: " + " vs ".join(values), title_justify="left")
    t.add_column("")
    for v in values:
        t.add_column(v, justify="right")
    t.add_column(f"{values[-1]} - {values[0]}", justify="right")
    n = len(results[0].numa["numastat"])
    for row in ROWS + _node_rows(n):
        got = [float(row.get(r)) for r in results]
        diff = got[-1] - got[0]
        t.add_row(row.label, *(format(g, row.fmt) for g in got), format(diff, "+" + row.fmt))
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perfmodel.numa_compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario")
    ap.add_argument("--hardware", "-H", default=DEFAULT_PROFILE)
    ap.add_argument("--vary", required=True, metavar="KEY.PATH=V1,V2")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="KEY.PATH=VALUE")
    ap.add_argument("--seed", type=int)
    a = ap.parse_args(argv)
    try:
        key, values = parse_vary(a.vary)
        results = compare(a.scenario, a.hardware, key, values, a.overrides, a.seed)
    except PerfmodelError as e:
        print(f"perfmodel: error: {e}", file=sys.stderr)
        return 2
    Console(width=120).print(table(key, values, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
