"""Human-readable tables for results and profiles (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from perfmodel.config.units import format_size
from perfmodel.results import Result


def _kv_table(title: str, rows: dict[str, Any], note: str = "") -> Table:
    t = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    t.add_column("counter", style="bold")
    t.add_column("value", justify="right")
    for k, v in rows.items():
        if isinstance(v, float):
            t.add_row(k, f"{v:,.3f}")
        elif isinstance(v, int):
            t.add_row(k, f"{v:,}")
        else:
            t.add_row(k, str(v))
    if note:
        t.caption = note
    return t


def print_result(r: Result, console: Console | None = None) -> None:
    con = console or Console()
    status = " [red](stopped at sim.max_sim_seconds)[/red]" if r.truncated else ""
    con.print(
        f"[bold]{r.scenario}[/bold] on [bold]{r.hardware}[/bold], kernel {r.kernel_release}, "
        f"seed {r.seed}: {r.elapsed_s:.3f} s simulated{status}"
    )
    con.print()
    con.print(_kv_table("/sys/kernel/debug/zswap", r.debugfs))
    con.print()
    con.print(_kv_table("/proc/vmstat", r.vmstat))
    con.print()

    w = Table(title="workload", title_justify="left")
    for col in ("process", "pass", "kind", "elapsed s", "MB/s"):
        w.add_column(col, justify="right" if col not in ("process", "kind") else "left")
    for p in r.workload["processes"]:
        label = f"{p['name']}[{p['slot']}.{p['instance']}]"
        for ps in p["passes"]:
            w.add_row(label, str(ps["pass"]), ps["kind"], f"{ps['elapsed_s']:.4f}",
                      f"{ps['throughput_mbps']:,.1f}")
        w.add_row(label, "all", "", f"{p['elapsed_s']:.4f}", f"{p['throughput_mbps']:,.1f}",
                  style="bold")
    w.caption = (
        f"total {r.workload['elapsed_s']:.4f} s, {r.workload['throughput_mbps']:,.1f} MB/s"
    )
    con.print(w)
    con.print()

    lt = Table(title="latency (µs)", title_justify="left")
    for col in ("", "count", "mean", "p50", "p90", "p99", "p999"):
        lt.add_column(col, justify="right" if col else "left")
    for name, s in r.latency.items():
        if not s.get("count"):
            lt.add_row(name, "0", "", "", "", "", "")
            continue
        lt.add_row(name, f"{s['count']:,}", *(f"{s[k]:,.2f}" for k in
                   ("mean_us", "p50_us", "p90_us", "p99_us", "p999_us")))
    lt.caption = "fault = major faults (swap-ins); store/load = zswap_store/zswap_load CPU time"
    con.print(lt)
    con.print()

    if len(r.numa["numastat"]) > 1:
        nt = Table(title="NUMA (numastat, pages)", title_justify="left")
        nt.add_column("node")
        names = list(next(iter(r.numa["numastat"].values())))
        for n in names + ["zswap pool pages", "resident pages"]:
            nt.add_column(n, justify="right")
        for i, (node, st) in enumerate(r.numa["numastat"].items()):
            nt.add_row(node, *(f"{st[n]:,}" for n in names),
                       f"{r.numa['pool_pages_per_node'][i]:,}",
                       f"{r.numa['resident_pages_per_node'][i]:,}")
        nt.caption = f"cross-node traffic {format_size(r.numa['cross_node_bytes'])}"
        con.print(nt)
        con.print()

    ts = r.timeseries
    if len(ts["t_s"]) > 2:
        pt = Table(title="zswap pool over time", title_justify="left")
        for col in ("t (s)", "stored_pages", "pool_total_size", "ratio", "zswpout", "pswpout"):
            pt.add_column(col, justify="right")
        n = len(ts["t_s"])
        for i in sorted({round(k * (n - 1) / 9) for k in range(10)}):
            pt.add_row(f"{ts['t_s'][i]:.3f}", f"{int(ts['stored_pages'][i]):,}",
                       format_size(ts["pool_total_size"][i]),
                       f"{ts['compression_ratio'][i]:.2f}", f"{int(ts['zswpout'][i]):,}",
                       f"{int(ts['pswpout'][i]):,}")
        pt.caption = f"{n} samples every {r.config['scenario']['sim']['sample_interval_s']} s in the JSON"
        con.print(pt)
        con.print()

    mem = r.memory
    con.print(_kv_table("memory", {
        "RAM (mem=)": format_size(mem["totalram_bytes"]),
        "workload footprint": format_size(mem["footprint_bytes"]),
        "zswap max pool": format_size(mem["max_pool_bytes"]),
        "pool peak": format_size(mem["peak_pool_total_size"]),
        "compression ratio (end)": round(mem["compression_ratio"], 3),
        "memory saved (end)": format_size(mem["memory_saved_bytes"]),
        "memory saved / footprint": round(mem["memory_saved_fraction"], 4),
        "Zswap / Zswapped (kB)": f"{r.meminfo['Zswap']:,} / {r.meminfo['Zswapped']:,}",
        "pages by location": ", ".join(f"{k} {v:,}" for k, v in mem["pages_by_location"].items()),
    }))


def print_profile(d: dict[str, Any], console: Console | None = None) -> None:
    con = console or Console()
    con.print(f"[bold]{d['name']}[/bold]: {d['description']}")
    con.print(f"{d['cpus']} CPUs ({d['cpu']}), {format_size(d['memory_bytes'])} RAM, "
              f"page touch {d['page_touch_us']:.3f} µs")
    nt = Table(title="NUMA nodes", title_justify="left")
    for col in ("node", "memory", "CPUs", "distances", "latency ns"):
        nt.add_column(col)
    for i, nd in enumerate(d["nodes"]):
        nt.add_row(str(nd["id"]), format_size(nd["memory_bytes"]), str(nd["cpus"]),
                   " ".join(str(x) for x in d["distances"][i]),
                   " ".join(f"{x:g}" for x in d["latency_ns"][i]))
    con.print(nt)
    ct = Table(title="compressors (per 4 KiB page)", title_justify="left")
    for col in ("name", "engine", "class", "compress µs", "decompress µs", "compress MB/s",
                "ratio"):
        ct.add_column(col, justify="left" if col in ("name", "engine", "class") else "right")
    for name, row in d["compressors"].items():
        for cls in ("text", "binary", "incompressible"):
            v = row[cls]
            ct.add_row(name, row["engine"], cls, f"{v['compress_us']:.2f}",
                       f"{v['decompress_us']:.2f}", f"{v['compress_mbps']:,.0f}",
                       f"{v['ratio']:.2f}")
    con.print(ct)
    dt = Table(title="swap devices (4 KiB requests, no queueing)", title_justify="left")
    for col in ("name", "kind", "capacity", "read µs", "write µs", "max read IOPS",
                "max write IOPS", "parallelism"):
        dt.add_column(col, justify="left" if col in ("name", "kind") else "right")
    for name, v in d["swap_devices"].items():
        dt.add_row(name, v["kind"], format_size(v["capacity_bytes"]),
                   f"{v['read_service_us']:,.1f}", f"{v['write_service_us']:,.1f}",
                   f"{v['max_read_iops']:,.0f}", f"{v['max_write_iops']:,.0f}",
                   str(v["parallelism"]))
    con.print(dt)
