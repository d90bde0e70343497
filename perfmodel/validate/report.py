"""Tables for `perfmodel validate`: measured vs predicted per record, and a summary."""

from __future__ import annotations

import math
import re
from typing import Any

from rich.console import Console
from rich.table import Table

from perfmodel.validate.compare import (
    BoundCheck,
    MetricSummary,
    RecordComparison,
    Row,
)

FORMAT = "perfmodel-validation/1"


def fmt_value(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    if abs(v) >= 100:
        return f"{v:,.1f}"
    return f"{v:.4g}"


def fmt_error(r: Row) -> str:
    if r.rel_error is None:
        return f"Δ {'+' if r.abs_error >= 0 else ''}{fmt_value(r.abs_error)}"
    return f"{r.rel_error:+.1%}"


def short_source(r: Row) -> str:
    """The model side of a row in a few characters: 'vmstat', 'passes[1]', 'fault p99'."""
    src = r.source
    if src.startswith("latency.fault.p99_us"):
        return "fault p99 (not access)"
    if "+" in src:
        return "debugfs " + "+".join(p.rsplit("_", 1)[-1] for p in src.split("+"))
    m = re.match(r"^workload\.processes\[(\d+)\]\.(passes\[\d+\])\.", src)
    if m:
        return m.group(2) if m.group(1) == "0" else f"proc {m.group(1)} {m.group(2)}"
    if src.startswith("numa.numastat."):
        return "numastat"
    head, _, tail = src.rpartition(".")
    return head if tail == r.metric and head else src


def _err_style(rel: float | None) -> str:
    if rel is None:
        return "dim"
    a = abs(rel)
    return "green" if a <= 0.1 else "yellow" if a <= 0.3 else "red"


def _seeds(first: int, n: int) -> str:
    return f"seed {first}" if n == 1 else f"mean of seeds {first}-{first + n - 1}"


def record_table(c: RecordComparison) -> Table:
    rec, res = c.record, c.result
    t = Table(
        title=f"{rec.id}  [dim]({rec.path}: {rec.source}/{rec.host.accel}, kernel "
        f"{rec.kernel.release}; model {res.scenario} on {res.hardware}, kernel "
        f"{res.kernel_release}, {_seeds(res.seed, c.seeds)})[/dim]",
        title_justify="left",
    )
    t.add_column("metric", style="bold", no_wrap=True)
    t.add_column("measured", justify="right", no_wrap=True)
    t.add_column("predicted", justify="right", no_wrap=True)
    t.add_column("error", justify="right", no_wrap=True)
    t.add_column("model", style="dim", overflow="fold")
    for r in c.rows:
        t.add_row(r.metric, fmt_value(r.measured), fmt_value(r.predicted),
                  f"[{_err_style(r.rel_error)}]{fmt_error(r)}[/]", short_source(r))
    caption = []
    if res.truncated:
        caption.append("[red]the simulation stopped at sim.max_sim_seconds[/red]")
    if c.unmodelled:
        caption.append(f"not modelled: {', '.join(c.unmodelled)}")
    caption += [f"[yellow]note:[/yellow] {n}" for n in c.notes]
    if caption:
        t.caption = "\n".join(caption)
        t.caption_justify = "left"
    return t


def summary_table(summary: dict[str, MetricSummary], checks: list[BoundCheck]) -> Table:
    bounds = {b.metric: b for b in checks}
    t = Table(title="summary over all records: |relative error|", title_justify="left")
    t.add_column("metric", style="bold", no_wrap=True)
    t.add_column("records", justify="right")
    t.add_column("median", justify="right")
    t.add_column("max", justify="right")
    t.add_column("repeats", justify="right")
    t.add_column("floor: repeats / model", justify="right")
    t.add_column("bound", justify="right")
    for name, s in summary.items():
        b = bounds.get(name)
        med = "-" if s.median_abs_rel_error is None else f"{s.median_abs_rel_error:.1%}"
        mx = "-" if s.max_abs_rel_error is None else f"{s.max_abs_rel_error:.1%}"
        count = f"{s.count}" if s.count == s.records else f"{s.count} of {s.records}"
        bound = ""
        if b is not None:
            bound = f"[{'green' if b.ok else 'red'}]{b.bound:.1%} {'ok' if b.ok else 'FAIL'}[/]"
        rep = ("-" if s.repeat_median_abs_rel_diff is None
               else f"{s.repeat_median_abs_rel_diff:.1%} ({s.repeat_pairs})")
        floor = "-"
        if s.floor_median_abs_rel_error is not None and s.floor_model_median_abs_rel_error is not None:
            floor = (f"{s.floor_median_abs_rel_error:.1%} / "
                     f"{s.floor_model_median_abs_rel_error:.1%} ({s.floor_runs})")
        t.add_row(name, count, f"[{_err_style(s.median_abs_rel_error)}]{med}[/]", mx, rep,
                  floor, bound)
    for b in checks:
        if b.metric not in summary:
            t.add_row(b.metric, "0", "-", "-", "-", "-", f"[red]{b.bound:.1%} FAIL[/]")
    t.caption = ("records: with a relative error (measured != 0) of those compared; "
                 "median and max of |predicted - measured| / measured; repeats: the kernel "
                 "against itself, median |a - b| / b over ordered pairs (a, b) of records "
                 "that repeat one configuration (pairs); floor: over the runs with repeats, "
                 "the median error of the mean of a run's other repeats as its prediction, "
                 "which no model can beat when repeats differ by chance, beside the model's "
                 "median error on the same runs (runs)")
    t.caption_justify = "left"
    return t


def print_validation(
    comparisons: list[RecordComparison],
    summary: dict[str, MetricSummary],
    checks: list[BoundCheck],
    console: Console | None = None,
) -> None:
    con = console or Console()
    for c in comparisons:
        con.print(record_table(c))
        con.print()
    con.print(summary_table(summary, checks))


def validation_dict(
    comparisons: list[RecordComparison],
    summary: dict[str, MetricSummary],
    checks: list[BoundCheck],
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "records": [c.to_dict() for c in comparisons],
        "summary": [s.to_dict() for s in summary.values()],
        "bounds": [b.to_dict() for b in checks],
        "ok": all(b.ok for b in checks),
    }
