"""Summarise the guest's ftrace of the zswap shrink worker (`perfmodel lab run --trace`).

With --trace, the guest's /init enables four workqueue events filtered on the
`shrink_worker` function (queue_work, activate_work, execute_start,
execute_end), sched_switch / sched_wakeup filtered on kworker tasks, and
reclaim's mm_vmscan_kswapd_wake and mm_vmscan_direct_reclaim_begin/_end, and
dumps the trace buffer after the workload as `@@TRACE` lines. This module
turns those lines (the text after the tag) into the record's `trace` key:
how often the shrink work was queued and run, how long it waited and ran,
how much CPU its kworker used, and when reclaim ran
(validation/FORMAT.md describes the keys).

Odd lines are skipped and missing events leave gaps (None), never an exception.
Times are microseconds unless the key says `_ms` or `_s`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from perfmodel.lab.console import Console

WORK_FUNCTION = "shrink_worker"
PCTS = (10, 25, 50, 75, 90, 99)
FAST_START_US = 50.0  # "started within" threshold for queue -> execute_start
BURST_GAP_S = 1e-3  # runs whose starts are closer than this form one burst
LONG_RUN_S = 5e-3  # runs longer than this are listed one by one
MAX_LONG_RUNS = 200  # cap on the listed long runs (the count is always exact)

# "<comm>-<pid> [cpu] flags timestamp: event: body". comm may hold spaces and
# dashes: the greedy comm takes everything up to the last "-<pid>" before
# "[cpu]". An optional "(tgid)" column and the flags column are skipped.
_LINE = re.compile(
    r"^\s*(?P<comm>.*)-(?P<pid>\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(?P<cpu>\d+)\]\s+"
    r"(?:\S+\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>\w+):\s?(?P<body>.*)$"
)
_SWITCH = re.compile(
    r"prev_comm=(?P<pc>.*?) prev_pid=(?P<pp>\d+) .*?(?:prev_state=(?P<ps>\S+) )?==> "
    r"next_comm=(?P<nc>.*?) next_pid=(?P<np>\d+)"
)
# "work struct=0000..." (queue_work) or "work struct 0000...:" (the others).
_WORK = re.compile(r"work struct[= ]([0-9a-fA-Fx]+)")
_FUNC = re.compile(r"function[= ](\S+)")
_WAKEUP = re.compile(r"comm=(?P<comm>.+?) pid=(?P<pid>\d+)")
_NID = re.compile(r"nid=(\d+)")
_NR_RECLAIMED = re.compile(r"nr_reclaimed=(\d+)")
# "overrun: N" but not "commit overrun: N".
_OVERRUN = re.compile(r"(?<!commit )overrun:\s*(\d+)")
_DROPPED = re.compile(r"dropped events:\s*(\d+)")


@dataclass(frozen=True)
class Event:
    t: float  # uptime, s
    comm: str  # the task that was running when the event fired
    pid: int
    cpu: int
    name: str  # event name, e.g. "sched_switch"
    body: str  # the event's own text


def parse_line(line: str) -> Event | None:
    """One trace line as an Event, or None when it is not one."""
    m = _LINE.match(line)
    if m is None:
        return None
    try:
        return Event(
            float(m["ts"]), m["comm"].strip(), int(m["pid"]), int(m["cpu"]), m["event"], m["body"]
        )
    except ValueError:
        return None


@dataclass
class _Run:
    """One execution of the work item by one kworker."""

    pid: int
    comm: str
    start: float
    queued: float | None = None  # the queue_work this run served
    switch_in: float | None = None  # the kworker's switch-in just before start
    end: float | None = None
    switch_out: float | None = None  # the kworker's first switch-out after end
    woken: float | None = None  # the sched_wakeup of this kworker after the queue_work


def _pct(values: Sequence[float], scale: float = 1.0, digits: int = 1) -> dict[str, float] | None:
    """Percentiles p10..p99 (linear interpolation) of values * scale; None when empty."""
    if not values:
        return None
    v = sorted(x * scale for x in values)
    out: dict[str, float] = {}
    for p in PCTS:
        k = (len(v) - 1) * p / 100
        lo = int(k)
        hi = min(lo + 1, len(v) - 1)
        out[f"p{p}"] = round(v[lo] + (v[hi] - v[lo]) * (k - lo), digits)
    return out


def _median(values: Sequence[float], scale: float = 1e6) -> float | None:
    p = _pct(values, scale)
    return p["p50"] if p else None


def _overlap(spans: list[tuple[float, float]], starts: list[float], a: float, b: float) -> float:
    """Seconds of the sorted, disjoint spans that fall inside [a, b]."""
    total = 0.0
    i = max(bisect_right(starts, a) - 1, 0)
    while i < len(spans) and spans[i][0] < b:
        s, e = spans[i]
        total += max(0.0, min(e, b) - max(s, a))
        i += 1
    return total


def _task_kind(comm: str) -> str:
    """A comm without its instance number: "kworker/u4:1" -> "kworker", "swapper/0" -> "swapper"."""
    return comm.split("/")[0] if "/" in comm else comm


def _stat_sum(stats: Iterable[str], pattern: re.Pattern[str]) -> int | None:
    """Sum of one counter over the per-CPU stats lines; None when no line has it."""
    found = [int(m.group(1)) for s in stats if (m := pattern.search(s))]
    return sum(found) if found else None


def pass_bounds(
    run_uptime: float | None, passes: Iterable[dict[str, Any]]
) -> list[tuple[int, float, float]]:
    """(pass, start, end) in guest uptime: @@RUN plus the cumulative elapsed_s of
    process 0's passes, which run back to back."""
    if run_uptime is None:
        return []
    rows = []
    for p in passes:
        try:
            if int(p.get("proc", 0)) == 0:
                rows.append((int(p["pass"]), float(p["elapsed_s"])))
        except (KeyError, TypeError, ValueError):
            continue
    out = []
    t = run_uptime
    for idx, el in sorted(rows):
        out.append((idx, t, t + el))
        t += el
    return out


def summarize(
    lines: Iterable[str],
    *,
    stats: Iterable[str] = (),
    complete: bool = True,
    passes: Sequence[tuple[int, float, float]] = (),
    written_back: int | None = None,
) -> dict[str, Any]:
    """The record's `trace` value from raw trace lines.

    stats: the @@TRACESTAT texts (per-CPU ring buffer stats); complete: whether
    the dump ended (@@TRACEEND); passes: (pass, start, end) uptimes, see
    pass_bounds; written_back: the run's zswpwb, for the CPU cost per page.
    """
    stats = list(stats)
    events: list[Event] = []
    skipped = 0
    for ln in lines:
        ev = parse_line(ln)
        if ev is None:
            skipped += 1 if ln.strip() else 0
        else:
            events.append(ev)
    events.sort(key=lambda e: e.t)  # the dump is merged by time already; be sure

    on_since: dict[int, tuple[float, bool]] = {}  # pid -> (on-CPU since, switch-in seen)
    spans: dict[int, list[tuple[float, float]]] = {}  # pid -> closed on-CPU spans
    last_end: dict[int, float] = {}  # pid -> end of its last run
    pending: dict[str, float] = {}  # work struct -> time of its unserved queue_work
    woken: dict[int, float] = {}  # kworker pid -> its first wakeup since a queue_work
    running: dict[int, _Run] = {}  # pid -> the run it is executing
    awaiting_out: dict[int, _Run] = {}  # pid -> finished run waiting for its switch-out
    runs: list[_Run] = []
    # kworker pid -> its off-CPU gaps (out, in, prev_state at the switch-out, next_comm)
    gaps_off: dict[int, list[tuple[float, float, str, str]]] = {}
    out_since: dict[int, tuple[float, str, str]] = {}
    comms: dict[int, str] = {}  # pid -> comm, from sched_switch
    queuers: Counter[str] = Counter()
    queued = 0
    kswapd_wakes: list[tuple[float, int]] = []  # (time, node)
    direct_open: dict[int, float] = {}  # pid -> its direct reclaim's begin
    direct: list[tuple[float, float, int]] = []  # (begin, end, nr_reclaimed)

    def off(pid: int, t: float) -> None:
        if pid in on_since:
            spans.setdefault(pid, []).append((on_since.pop(pid)[0], t))

    for ev in events:
        if ev.name == "sched_switch":
            m = _SWITCH.search(ev.body)
            if m is None:
                continue
            prev, nxt = int(m["pp"]), int(m["np"])
            off(prev, ev.t)
            comms[prev], comms[nxt] = m["pc"], m["nc"]
            if m["pc"].startswith("kworker/"):
                # "R"/"R+": preempted; anything else: it blocked.
                out_since[prev] = (ev.t, (m["ps"] or "?").rstrip("+"), m["nc"])
            if nxt in out_since:
                t0, state, took = out_since.pop(nxt)
                gaps_off.setdefault(nxt, []).append((t0, ev.t, state, took))
            if prev in awaiting_out:
                awaiting_out.pop(prev).switch_out = ev.t
            on_since[nxt] = (ev.t, True)
            continue
        if ev.name == "sched_wakeup":
            wm = _WAKEUP.search(ev.body)
            if wm is not None and pending and wm["comm"].startswith("kworker/"):
                woken.setdefault(int(wm["pid"]), ev.t)
            continue
        if ev.name.startswith("mm_vmscan_"):
            if ev.name == "mm_vmscan_kswapd_wake":
                nm = _NID.search(ev.body)
                kswapd_wakes.append((ev.t, int(nm.group(1)) if nm else -1))
            elif ev.name == "mm_vmscan_direct_reclaim_begin":
                direct_open[ev.pid] = ev.t
            elif ev.name == "mm_vmscan_direct_reclaim_end" and ev.pid in direct_open:
                rm = _NR_RECLAIMED.search(ev.body)
                direct.append((direct_open.pop(ev.pid), ev.t, int(rm.group(1)) if rm else 0))
            continue
        if ev.pid not in on_since and ev.pid != 0:
            # Any event shows its task on a CPU, even without a switch-in in the trace.
            on_since[ev.pid] = (ev.t, False)
        if not ev.name.startswith("workqueue_"):
            continue
        fm = _FUNC.search(ev.body)
        if fm is None or fm.group(1).rstrip(":") != WORK_FUNCTION:
            continue
        wm = _WORK.search(ev.body)
        work = wm.group(1) if wm else "?"
        if ev.name == "workqueue_queue_work":
            queued += 1
            queuers[ev.comm] += 1
            pending[work] = ev.t  # the latest: an earlier one lost its start
            woken.clear()
        elif ev.name == "workqueue_execute_start":
            running.pop(ev.pid, None)  # a start without an end: cut off, left unfinished
            awaiting_out.pop(ev.pid, None)  # ran again without switching out in between
            run = _Run(ev.pid, ev.comm, ev.t, queued=pending.pop(work, None))
            w = woken.pop(ev.pid, None)
            if w is not None and run.queued is not None and w >= run.queued:
                run.woken = w
            woken.clear()
            since, seen = on_since.get(ev.pid, (ev.t, False))
            # Only a switch-in after this pid's previous run is "just before" this one.
            if seen and since >= last_end.get(ev.pid, float("-inf")):
                run.switch_in = since
            running[ev.pid] = run
            runs.append(run)
        elif ev.name == "workqueue_execute_end":
            run = running.pop(ev.pid, None)
            if run is None:
                continue  # its start is not in the trace
            run.end = ev.t
            last_end[ev.pid] = ev.t
            awaiting_out[ev.pid] = run

    t_last = events[-1].t if events else 0.0
    for pid in list(on_since):
        off(pid, t_last)
    starts = {pid: [s for s, _ in sp] for pid, sp in spans.items()}

    def cpu_s(r: _Run) -> float:
        if r.end is None or r.pid not in spans:
            return 0.0
        return _overlap(spans[r.pid], starts[r.pid], r.start, r.end)

    finished = [r for r in runs if r.end is not None]
    run_cpu = {id(r): cpu_s(r) for r in finished}
    cpu_total = sum(run_cpu.values())

    q_delays = [r.start - r.queued for r in runs if r.queued is not None]
    bursts: list[list[_Run]] = []
    for r in runs:  # in start order
        if bursts and r.start - bursts[-1][-1].start < BURST_GAP_S:
            bursts[-1].append(r)
        else:
            bursts.append([r])
    gaps = [b[0].start - a[-1].start for a, b in zip(bursts, bursts[1:], strict=False)]
    sizes = [float(len(b)) for b in bursts]

    long = [r for r in finished if r.end is not None and r.end - r.start > LONG_RUN_S]
    # Where the long runs' wall time off the CPU went: by the kworker's state when it
    # switched out (R: preempted, D/S: it blocked) and by the task that took the CPU.
    off_state: Counter[str] = Counter()
    off_next: Counter[str] = Counter()
    off_count: Counter[str] = Counter()
    for r in long:
        for t0, t1, state, took in gaps_off.get(r.pid, ()):
            if r.end is not None and t0 >= r.start and t1 <= r.end:
                off_state[state] += t1 - t0
                off_count[state] += 1
                off_next[_task_kind(took)] += t1 - t0
    # The other kworkers' CPU inside the long runs (e.g. kblockd's kworker/N:MH at nice -20).
    others: Counter[str] = Counter()
    executors = {r.pid for r in runs}
    for pid, sp in spans.items():
        comm = comms.get(pid, "")
        if pid in executors or not comm.startswith("kworker/"):
            continue
        for r in long:
            if r.end is not None:
                others[comm] += _overlap(sp, starts[pid], r.start, r.end)
    per_pass = []
    reclaim_per_pass = []
    for idx, a, b in passes:
        wakes = [t for t, _ in kswapd_wakes if a <= t < b]
        dr = [d for d in direct if a <= d[0] < b]
        reclaim_per_pass.append(
            {
                "pass": idx,
                "kswapd_wakes": len(wakes),
                "first_kswapd_wake_s": round(wakes[0] - a, 6) if wakes else None,
                "direct_reclaims": len(dr),
                "first_direct_reclaim_s": round(dr[0][0] - a, 6) if dr else None,
                "direct_reclaim_ms": round(sum(e - s for s, e, _ in dr) * 1e3, 3),
                "direct_reclaimed": sum(n for _, _, n in dr),
            }
        )
        inside = [r for r in runs if a <= r.start < b]
        per_pass.append(
            {
                "pass": idx,
                "start_s": round(a, 6),
                "end_s": round(b, 6),
                "runs": len(inside),
                "cpu_ms": round(sum(run_cpu.get(id(r), 0.0) for r in inside) * 1e3, 3),
            }
        )

    worker: dict[str, Any] = {
        "runs": len(runs),
        "unfinished": len(runs) - len(finished),
        "queued": queued,
        "queuers": dict(queuers.most_common()),
        "executors": dict(Counter(r.comm for r in runs).most_common()),
        "queue_to_start_us": _pct(q_delays, 1e6),
        "started_within_50us": (
            round(sum(d * 1e6 <= FAST_START_US for d in q_delays) / len(q_delays), 4)
            if q_delays
            else None
        ),
        "run_us": _pct([r.end - r.start for r in finished if r.end is not None], 1e6),
        "switch_in_to_start_us": _median(
            [r.start - r.switch_in for r in runs if r.switch_in is not None]
        ),
        "end_to_switch_out_us": _median(
            [r.switch_out - r.end for r in finished if r.switch_out is not None and r.end is not None]
        ),
        "queue_to_switch_in_us": _median(
            [
                r.switch_in - r.queued
                for r in runs
                if r.switch_in is not None and r.queued is not None and r.switch_in >= r.queued
            ]
        ),
        "queue_to_wakeup_us": _median(
            [r.woken - r.queued for r in runs if r.woken is not None and r.queued is not None]
        ),
        "bursts": {
            "count": len(bursts),
            "size": _pct(sizes, 1.0),
            "max_size": int(max(sizes)) if sizes else 0,
            "gap_ms": _pct(gaps, 1e3, 3),
        },
        "long_runs_count": len(long),
        "long_runs": [
            {
                "start_s": round(r.start, 6),
                "wall_ms": round((r.end - r.start) * 1e3, 3),
                "cpu_ms": round(run_cpu[id(r)] * 1e3, 3),
            }
            for r in long[:MAX_LONG_RUNS]
            if r.end is not None
        ],
        "long_runs_off_cpu": {
            "wall_ms": round(sum((r.end or r.start) - r.start for r in long) * 1e3, 3),
            "by_state_ms": {k: round(v * 1e3, 3) for k, v in off_state.most_common()},
            "by_state_count": dict(off_count.most_common()),
            "by_next_ms": {k: round(v * 1e3, 3) for k, v in off_next.most_common()},
            "other_kworkers_cpu_ms": {
                k: round(v * 1e3, 3) for k, v in others.most_common() if v > 0
            },
        },
        "cpu_ms_total": round(cpu_total * 1e3, 3),
        "written_back_pages": written_back,
        "cpu_us_per_written_back_page": (
            round(cpu_total * 1e6 / written_back, 3) if written_back else None
        ),
        # The long runs are the ones that write back; the short ones only rotate.
        "long_runs_cpu_us_per_written_back_page": (
            round(sum(run_cpu[id(r)] for r in long) * 1e6 / written_back, 3)
            if written_back else None
        ),
        "per_pass": per_pass,
    }
    return {
        "events": len(events),
        "skipped_lines": skipped,
        "complete": complete,
        "overrun": _stat_sum(stats, _OVERRUN),
        "dropped": _stat_sum(stats, _DROPPED),
        "stats": stats,
        "first_s": round(events[0].t, 6) if events else None,
        "last_s": round(t_last, 6) if events else None,
        WORK_FUNCTION: worker,
        "reclaim": {
            "kswapd_wakes": dict(Counter(f"node{n}" for _, n in kswapd_wakes)),
            "direct_reclaims": len(direct),
            "direct_reclaim_us": _pct([e - s for s, e, _ in direct], 1e6),
            "direct_reclaimed": _pct([float(n) for _, _, n in direct], 1.0),
            "per_pass": reclaim_per_pass,
        },
    }


# The guest's debugfs samples (@@POOL): uptime, then zswap's gauges and counters.
POOL_COLUMNS = ("uptime_s", "pool_total_size", "stored_pages", "pool_limit_hit",
                "written_back_pages")


def _written_back(snapshots: dict[str, Any]) -> int | None:
    """zswpwb over the run: the final snapshot's /proc/vmstat minus the first's."""
    last = snapshots.get("after") or (snapshots.get("passes") or [None])[-1]
    if not last or "zswpwb" not in last.get("vmstat", {}):
        return None
    before = (snapshots.get("before") or {}).get("vmstat", {}).get("zswpwb", 0)
    return int(last["vmstat"]["zswpwb"]) - int(before)


def trace_record(c: Console, snapshots: dict[str, Any]) -> dict[str, Any]:
    """The record's `trace` from a parsed console and the record's `snapshots`."""
    out = summarize(
        c.trace_lines,
        stats=c.trace_stats,
        complete=c.trace_end,
        passes=pass_bounds(c.run_uptime, c.passes),
        written_back=_written_back(snapshots),
    )
    if c.pool_samples:
        out["pool"] = {"columns": list(POOL_COLUMNS),
                       "samples": [[round(s[0], 3), *map(int, s[1:])] for s in c.pool_samples]}
    return out
