"""Command line: a thin layer over perfmodel.api."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from perfmodel import api
from perfmodel.config import DEFAULT_PROFILE, DEFAULT_SCENARIO, bundled_dir, load_profile
from perfmodel.errors import PerfmodelError

if TYPE_CHECKING:
    from rich.console import Console

    from perfmodel.sweep.engine import SweepOutcome

EXIT_BAD_INPUT = 2


def _fail(msg: str, code: int = EXIT_BAD_INPUT) -> None:
    click.echo(f"perfmodel: error: {msg}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """A discrete-event performance model of Linux zswap on NUMA hardware."""


@cli.command()
@click.argument("scenario", required=False)
@click.option("--hardware", "-H", "hardware", metavar="PROFILE",
              help=f"Hardware profile: a path or a bundled name (default {DEFAULT_PROFILE}).")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a scenario key, e.g. --set zswap.max_pool_percent=10.")
@click.option("--seed", type=int, help="Random seed (default: workload.seed).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, writable=True),
              help="Write the full result as JSON to this file ('-' for stdout).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the tables.")
def run(scenario: str | None, hardware: str | None, overrides: tuple[str, ...],
        seed: int | None, json_out: str | None, quiet: bool) -> None:
    """Simulate SCENARIO (default: the bundled usemem) on a hardware profile."""
    from perfmodel.report import print_result

    result = api.run(scenario or DEFAULT_SCENARIO, hardware, list(overrides), seed)
    if json_out == "-":
        click.echo(result.to_json())
        return
    if json_out:
        try:
            Path(json_out).write_text(result.to_json() + "\n")
        except OSError as e:
            raise PerfmodelError(f"{json_out}: cannot write: {e.strerror}") from None
    if not quiet:
        print_result(result)


@cli.command("show-profile")
@click.argument("profile", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the derived figures as JSON.")
def show_profile(profile: str | None, as_json: bool) -> None:
    """Print a hardware profile with its derived figures."""
    from perfmodel.report import print_profile

    hw = load_profile(profile or DEFAULT_PROFILE)
    d = api.describe_profile(hw)
    if as_json:
        click.echo(json.dumps(d, indent=2))
    else:
        print_profile(d)


@cli.command("list")
def list_bundled() -> None:
    """List the bundled hardware profiles and scenarios."""
    for kind in ("hardware", "scenarios"):
        names = sorted(p.stem for p in bundled_dir(kind).glob("*.yaml"))
        click.echo(f"{kind}: {', '.join(names)}")
    click.echo(f"defaults: scenario {DEFAULT_SCENARIO}, hardware {DEFAULT_PROFILE}")


@cli.command("validate")
@click.argument("records", nargs=-1, required=True, metavar="RECORD...")
@click.option("--json", "json_out", type=click.Path(dir_okay=False),
              help="Write the comparison as JSON to this file ('-' for stdout).")
@click.option("--max-error", "max_errors", multiple=True, metavar="METRIC=FRACTION",
              help="Fail (exit 1) when METRIC's median |relative error| exceeds FRACTION "
                   "(0.2 or 20%). Repeatable.")
@click.option("--seed", type=int, help="Random seed for every prediction (default: workload.seed).")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Predict each record with this many seeds from --seed on and compare "
                   "the mean of each metric.")
def validate_cmd(records: tuple[str, ...], json_out: str | None, max_errors: tuple[str, ...],
                 seed: int | None, seeds: int) -> None:
    """Compare measured run records (files or directories of *.json) with the model."""
    from perfmodel.validate.compare import (
        check_bounds,
        compare_record,
        load_records,
        parse_bounds,
        summarize,
        with_repeat_spread,
    )
    from perfmodel.validate.report import print_validation, validation_dict

    bounds = parse_bounds(max_errors)
    recs = load_records(records)
    comparisons = [compare_record(r, seed, seeds) for r in recs]
    summary = summarize({c.record.id: c.rows for c in comparisons})
    summary = with_repeat_spread(summary, comparisons)
    checks = check_bounds(summary, bounds)
    doc = validation_dict(comparisons, summary, checks)
    text = json.dumps(doc, indent=2, allow_nan=False)
    if json_out == "-":
        click.echo(text)
    else:
        if json_out:
            try:
                Path(json_out).write_text(text + "\n")
            except OSError as e:
                raise PerfmodelError(f"{json_out}: cannot write: {e.strerror}") from None
        print_validation(comparisons, summary, checks)
    failed = [b for b in checks if not b.ok]
    for b in failed:
        click.echo(f"perfmodel: validate: {b.metric}: {b.reason}", err=True)
    if failed:
        sys.exit(1)


@cli.command("collect", context_settings={"allow_interspersed_args": False})
@click.option("--scenario", "-s", "scenario", required=True, metavar="SCENARIO",
              help="The scenario the command runs: a path or a bundled name.")
@click.option("--hardware", "-H", "hardware", metavar="PROFILE",
              help=f"Profile to predict this host with (default {DEFAULT_PROFILE}).")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False), metavar="RECORD",
              help="Record file to write (default ./<id>.json).")
@click.option("--id", "record_id", metavar="ID", help="Record id (default collect-<release>-...).")
@click.option("--procfs", default="/proc", hidden=True)
@click.option("--sysfs", default="/sys", hidden=True)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def collect_cmd(scenario: str, hardware: str | None, out: str | None, record_id: str | None,
                procfs: str, sysfs: str, command: tuple[str, ...]) -> None:
    """Measure `-- COMMAND...` on this Linux host and write a run record.

    Reads every counter of the run record format before and after the command
    (and at each `@@PASS {json}` line it prints); what cannot be read is listed
    under `missing` with the reason.
    """
    import shlex

    from perfmodel.validate.collect import collect
    from perfmodel.validate.snapshot import SnapshotReader

    argv = ["perfmodel", "collect", "--scenario", scenario]
    for flag, value in (("--hardware", hardware), ("--out", out), ("--id", record_id)):
        if value:
            argv += [flag, value]
    argv += ["--", *command]
    record, path = collect(
        scenario, command, hardware, out, SnapshotReader(Path(procfs), Path(sysfs)),
        record_id, shlex.join(argv), echo=click.echo,
    )
    msg = f"perfmodel: collect: wrote {path} ({record.id}"
    if record.missing:
        msg += f"; missing: {'; '.join(record.missing)}"
    click.echo(msg + ")", err=True)


@cli.group()
def lab() -> None:
    """The kernel lab: real Debian kernels with zswap in a QEMU guest."""


@lab.command("run")
@click.argument("scenario")
@click.option("--hardware", "-H", default="lab-qemu", show_default=True, metavar="PROFILE",
              help="Profile whose CPUs, NUMA nodes and swap devices shape the guest.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a scenario key.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), help="Write the run record here.")
@click.option("--timeout", default=900.0, show_default=True, help="Wall-clock limit, seconds.")
@click.option("--accel", type=click.Choice(["auto", "kvm", "tcg"]), default="auto",
              show_default=True, help="auto tries KVM and falls back to TCG.")
@click.option("--trace", is_flag=True,
              help="Trace the zswap shrink worker and kworker scheduling (tracefs) into "
                   "the record's trace key.")
def lab_run_cmd(scenario: str, hardware: str, overrides: tuple[str, ...], out: str | None,
                timeout: float, accel: str, trace: bool) -> None:
    """Boot a guest, run SCENARIO in it and write its run record (1-3 min under TCG)."""
    from perfmodel.lab.run import lab_run

    rec = lab_run(scenario, list(overrides), hardware, out, timeout, accel=accel, trace=trace)
    w = rec["workload"]
    click.echo(f"{rec['id']}: {rec['kernel']['release']} {rec['host']['accel']} "
               f"wall {rec['host']['wall_s']:.1f} s, workload {w['elapsed_s']:.1f} s")
    for p in w["passes"]:
        click.echo(f"  pass {p['pass']} {p['kind']:6s} {p['elapsed_s']:8.2f} s "
                   f"{p['throughput_mbps']:8.1f} MB/s")


@lab.command("profile")
@click.option("--kernel", default="6.12", show_default=True, help="Guest kernel series.")
@click.option("--out-dir", default="hardware", show_default=True,
              type=click.Path(file_okay=False), help="Where lab-qemu*.yaml are written.")
def lab_profile_cmd(kernel: str, out_dir: str) -> None:
    """Measure the lab guest (pagebench, iobench) and write the lab-qemu profiles."""
    from perfmodel.lab.bench import lab_profile

    lab_profile(kernel=kernel, out_dir=out_dir)
    click.echo(f"wrote {out_dir}/lab-qemu.yaml and {out_dir}/lab-qemu-2node.yaml")


@cli.command("compare")
@click.argument("scenario")
@click.option("--hardware", "-H", "hardware", metavar="PROFILE",
              help="Hardware profile name or path (default: the bundled one).")
@click.option("--vary", required=True, metavar="KEY.PATH=V1,V2[,...]",
              help="The one key to change between the runs, e.g. zswap.writeback_alloc=task,vma.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a scenario key for every run.")
@click.option("--seed", type=int, help="Random seed (default: workload.seed).")
def compare_cmd(scenario: str, hardware: str | None, vary: str, overrides: tuple[str, ...],
                seed: int | None) -> None:
    """Run SCENARIO once per value of one key and print the runs side by side: the
    counters, the per-node numastat and zswap footprint, cross-node bytes and faults."""
    from rich.console import Console

    from perfmodel.numa_compare import compare, parse_vary, table

    key, values = parse_vary(vary)
    results = compare(scenario, hardware or DEFAULT_PROFILE, key, values, list(overrides), seed)
    Console(width=120).print(table(key, values, results))


@cli.command("profile-host")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the profile here.")
@click.option("--device", metavar="PATH",
              help="Swap device or file to measure (default: a scratch file beside --out).")
@click.option("--write", is_flag=True, help="Also measure writes on --device (destroys data).")
@click.option("--kind", type=click.Choice(["nvme", "sata_ssd", "hdd"]), default="nvme",
              show_default=True, help="Kind of the measured swap device.")
@click.option("--name", default="this-host", show_default=True, help="Profile name.")
@click.option("--pagebench", metavar="PATH", help="A pagebench binary (default: build it).")
@click.option("--pages", default=2000, show_default=True, help="Pages per compressor and class.")
def profile_host_cmd(out: str | None, device: str | None, write: bool, kind: str, name: str,
                     pagebench: str | None, pages: int) -> None:
    """Measure this Linux host and print (or write) a hardware profile.

    Topology from sysfs, compressor costs and sizes from pagebench, and the
    swap device from direct-I/O reads and writes.
    """
    from perfmodel.profiling.host import profile_host

    text = profile_host(out, device, write, pagebench, name, kind, pages)
    if not out:
        click.echo(text, nl=False)


def _sweep_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say what a sweep runs, shared by sweep and plan."""
    opts = [
        click.argument("scenario", required=False),
        click.option("--hardware", "-H", "hardware", multiple=True, metavar="PROFILE",
                     help=f"A profile to sweep over; repeatable (default {DEFAULT_PROFILE})."),
        click.option("--vary", "vary", multiple=True, metavar="KEY.PATH=V1,V2,...",
                     help="A scenario key and its values; repeatable. Points are the Cartesian "
                          "product of every --vary and every --hardware."),
        click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                     help="Override a scenario key at every point."),
        click.option("--replications", "-n", type=int, metavar="N",
                     help="Runs per point, each with its own seed (default 3)."),
        click.option("--seed", type=int, help="Base seed (default: workload.seed)."),
        click.option("--file", "-f", "sweep_file", metavar="SWEEP.yaml",
                     help="A sweep file; command-line options add to it or replace its values."),
        click.option("--out", "-o", "out", metavar="DIR",
                     help="Sweep directory (default out/sweep-<hash of the sweep>); "
                          "finished runs in it are reused."),
        click.option("--executor", type=click.Choice(["local", "dask"]),
                     help="local worker processes (default), or a Dask cluster."),
        click.option("--workers", "-j", type=click.IntRange(min=1),
                     help="Local worker processes or LocalCluster workers (default: every core)."),
        click.option("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler address (default with --executor dask: a LocalCluster "
                          "on this machine)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _run_sweep(scenario: str | None, hardware: tuple[str, ...], vary: tuple[str, ...],
               overrides: tuple[str, ...], replications: int | None, seed: int | None,
               sweep_file: str | None, out: str | None, executor: str | None,
               workers: int | None, scheduler: str | None, reuse: bool = False) -> SweepOutcome:
    from perfmodel.sweep.engine import run_sweep, sweep_spec_for

    spec, out_dir = sweep_spec_for(scenario, hardware, vary, overrides, replications, seed,
                                   sweep_file, out, reuse)
    if executor == "local" and scheduler:
        raise PerfmodelError("--scheduler: needs --executor dask")
    return run_sweep(spec, out_dir, executor or ("dask" if scheduler else "local"), workers,
                     scheduler)


def _wide_console() -> Console:
    from rich.console import Console

    # Piped output has no width; do not wrap table rows at 80 columns.
    return Console() if sys.stdout.isatty() else Console(width=200)


@cli.command("sweep")
@_sweep_options
def sweep_cmd(scenario: str | None, hardware: tuple[str, ...], vary: tuple[str, ...],
              overrides: tuple[str, ...], replications: int | None, seed: int | None,
              sweep_file: str | None, out: str | None, executor: str | None,
              workers: int | None, scheduler: str | None) -> None:
    """Run SCENARIO at every point of a sweep, in parallel, resumably, into DIR.

    Each finished run is written to DIR/runs/<key>.json and the tables DIR/runs.csv
    and DIR/summary.csv as it finishes; rerunning the same command resumes.
    """
    from perfmodel.sweep.summary import print_summary

    res = _run_sweep(scenario, hardware, vary, overrides, replications, seed, sweep_file, out,
                     executor, workers, scheduler)
    keys = list(res.spec.keys)
    print_summary(res.summary, keys, res.spec.short_names(), _wide_console())


@cli.command("plot")
@click.argument("sweep_dir", metavar="DIR")
@click.option("--metric", "metrics", multiple=True, metavar="METRIC",
              help="A metric to plot against --x; repeatable (default: throughput, p99 fault "
                   "latency, memory saved, zswpwb).")
@click.option("--x", "x", metavar="KEY",
              help="The swept key on the x axis (default: the first numeric one).")
@click.option("--cdf-point", "cdf_points", multiple=True, type=int, metavar="N",
              help="A point (number from the summary table) for the fault-latency CDFs.")
@click.option("--timeseries", "timeseries", type=int, metavar="N",
              help="The point whose pool size and compression ratio over time to plot "
                   "(default 1).")
@click.option("--out", "-o", "out", metavar="PLOTDIR", help="Where to write (default DIR/plots).")
@click.option("--format", "formats", multiple=True, type=click.Choice(["png", "svg"]),
              help="File formats (default both).")
def plot_cmd(sweep_dir: str, metrics: tuple[str, ...], x: str | None,
             cdf_points: tuple[int, ...], timeseries: int | None, out: str | None,
             formats: tuple[str, ...]) -> None:
    """Plot a sweep: metrics against a swept key with 95% CI bands, fault-latency CDFs,
    and the zswap pool over time for one point (PNG and SVG)."""
    from perfmodel.sweep.engine import load_sweep
    from perfmodel.sweep.plot import FORMATS, plot_sweep

    paths = plot_sweep(load_sweep(sweep_dir), out, metrics, x, cdf_points, timeseries,
                       formats or FORMATS)
    for p in paths:
        click.echo(f"wrote {p}")


@cli.command("plan")
@_sweep_options
@click.option("--require", "requires", multiple=True, metavar="METRIC<=VALUE",
              help="A requirement, e.g. 'p99_fault_latency_us<=200'; repeatable.")
@click.option("--minimize", metavar="NAME", help="Rank by this metric or swept key, lowest first.")
@click.option("--maximize", metavar="NAME",
              help="Rank by this metric or swept key, highest first (default throughput_mbps).")
@click.option("--judge", type=click.Choice(["ci", "mean"]), default="ci", show_default=True,
              help="ci: the whole 95% CI must meet each bound; mean: the mean must.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False),
              help="Also write the plan as JSON to this file.")
def plan_cmd(scenario: str | None, hardware: tuple[str, ...], vary: tuple[str, ...],
             overrides: tuple[str, ...], replications: int | None, seed: int | None,
             sweep_file: str | None, out: str | None, executor: str | None, workers: int | None,
             scheduler: str | None, requires: tuple[str, ...], minimize: str | None,
             maximize: str | None, judge: str, json_out: str | None) -> None:
    """Run (or reuse) a sweep and recommend the configuration that meets every --require.

    With only --out DIR, the sweep already in DIR is reused. Exit status 1 when no
    configuration meets every requirement; the binding requirement is named.
    """
    from perfmodel.sweep.engine import load_sweep
    from perfmodel.sweep.plan import evaluate, parse_requirement, plan_dict, print_plan

    reqs = [parse_requirement(r) for r in requires]
    res = _run_sweep(scenario, hardware, vary, overrides, replications, seed, sweep_file, out,
                     executor, workers, scheduler, reuse=True)
    data = load_sweep(res.root)
    result = evaluate(data, reqs, minimize, maximize, judge)
    if json_out:
        try:
            Path(json_out).write_text(json.dumps(plan_dict(data, result), indent=2) + "\n")
        except OSError as e:
            raise PerfmodelError(f"{json_out}: cannot write: {e.strerror}") from None
    print_plan(data, result, _wide_console())
    if result.best is None:
        sys.exit(1)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _fail("interrupted", 130)
    except click.ClickException as e:
        _fail(e.format_message(), e.exit_code)
    except PerfmodelError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as e:  # noqa: BLE001 - the user gets one line, developers a traceback
        if os.environ.get("PERFMODEL_DEBUG"):
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (set PERFMODEL_DEBUG=1 for a traceback)", 70)


if __name__ == "__main__":
    main()
