"""perfmodel lab run --trace: the guest's tracing commands, the console tags and the
summary of the shrink worker's trace (perfmodel.lab.trace). No QEMU."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from perfmodel.config import load_profile, load_scenario
from perfmodel.lab import __main__ as lab_main
from perfmodel.lab import console as con
from perfmodel.lab import trace as tr
from perfmodel.lab.guest import (
    POOL_DUMP,
    POOL_SAMPLER,
    TRACE_DUMP,
    GuestPlan,
    init_script,
    plan_guest,
)
from perfmodel.lab.run import check_console, command_line, make_record
from perfmodel.validate.record import parse_record, record_to_dict

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "lab" / "scenarios" / "lab-usemem.yaml"
SAMPLE = ROOT / "tests" / "data" / "lab-console-sample.txt"

# 66 lines of a real 6.12 guest trace (TCG, one vCPU): two stretches of
# shrink_worker runs, queued by kswapd0 and then by usemem, with the kworker's
# switches in and out, and a kworker/0:1H that never runs the work.
REAL = """\
         kswapd0-44      [000] dN.4.    15.753968: sched_wakeup: comm=kworker/0:1H pid=43 prio=100 target_cpu=000
         kswapd0-44      [000] d..2.    15.754021: sched_switch: prev_comm=kswapd0 prev_pid=44 prev_prio=120 prev_state=R+ ==> next_comm=kworker/0:1H next_pid=43 next_prio=100
    kworker/0:1H-43      [000] d..2.    15.754164: sched_switch: prev_comm=kworker/0:1H prev_pid=43 prev_prio=100 prev_state=I ==> next_comm=usemem next_pid=157 next_prio=120
         kswapd0-44      [000] dN.4.    15.854554: sched_wakeup: comm=kworker/0:1H pid=43 prio=100 target_cpu=000
         kswapd0-44      [000] d..2.    15.854859: sched_switch: prev_comm=kswapd0 prev_pid=44 prev_prio=120 prev_state=R+ ==> next_comm=kworker/0:1H next_pid=43 next_prio=100
    kworker/0:1H-43      [000] d..2.    15.855213: sched_switch: prev_comm=kworker/0:1H prev_pid=43 prev_prio=100 prev_state=I ==> next_comm=usemem next_pid=157 next_prio=120
         kswapd0-44      [000] dN.4.    15.882113: sched_wakeup: comm=kworker/0:1H pid=43 prio=100 target_cpu=000
         kswapd0-44      [000] d..2.    15.882832: sched_switch: prev_comm=kswapd0 prev_pid=44 prev_prio=120 prev_state=R+ ==> next_comm=kworker/0:1H next_pid=43 next_prio=100
    kworker/0:1H-43      [000] d..2.    15.883133: sched_switch: prev_comm=kworker/0:1H prev_pid=43 prev_prio=100 prev_state=I ==> next_comm=usemem next_pid=157 next_prio=120
         kswapd0-44      [000] d..1.    16.035162: workqueue_queue_work: work struct=000000009020e768 function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
         kswapd0-44      [000] d..1.    16.035179: workqueue_activate_work: work struct 000000009020e768 function=shrink_worker
         kswapd0-44      [000] dN.4.    16.035247: sched_wakeup: comm=kworker/u4:1 pid=29 prio=120 target_cpu=000
          usemem-157     [000] d..2.    16.037735: sched_switch: prev_comm=usemem prev_pid=157 prev_prio=120 prev_state=R ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    16.038022: workqueue_execute_start: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] .....    16.038319: workqueue_execute_end: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] d..2.    16.038368: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=I ==> next_comm=usemem next_pid=157 next_prio=120
         kswapd0-44      [000] d..1.    16.041576: workqueue_queue_work: work struct=000000009020e768 function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
         kswapd0-44      [000] d..1.    16.041584: workqueue_activate_work: work struct 000000009020e768 function=shrink_worker
         kswapd0-44      [000] dN.4.    16.041628: sched_wakeup: comm=kworker/u4:1 pid=29 prio=120 target_cpu=000
         kswapd0-44      [000] d..2.    16.041650: sched_switch: prev_comm=kswapd0 prev_pid=44 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    16.041662: workqueue_execute_start: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] .....    16.041693: workqueue_execute_end: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] d..2.    16.041709: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=I ==> next_comm=kswapd0 next_pid=44 next_prio=120
         kswapd0-44      [000] d..1.    16.041762: workqueue_queue_work: work struct=000000009020e768 function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
         kswapd0-44      [000] d..1.    16.041763: workqueue_activate_work: work struct 000000009020e768 function=shrink_worker
         kswapd0-44      [000] dN.4.    16.041771: sched_wakeup: comm=kworker/u4:1 pid=29 prio=120 target_cpu=000
         kswapd0-44      [000] d..2.    16.041779: sched_switch: prev_comm=kswapd0 prev_pid=44 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    16.041782: workqueue_execute_start: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] .....    16.041798: workqueue_execute_end: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] d..2.    16.041804: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=I ==> next_comm=kswapd0 next_pid=44 next_prio=120
         kswapd0-44      [000] d..1.    16.042020: workqueue_queue_work: work struct=000000009020e768 function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
         kswapd0-44      [000] d..1.    16.042022: workqueue_activate_work: work struct 000000009020e768 function=shrink_worker
         kswapd0-44      [000] dN.4.    16.042029: sched_wakeup: comm=kworker/u4:1 pid=29 prio=120 target_cpu=000
         kswapd0-44      [000] d..2.    16.042036: sched_switch: prev_comm=kswapd0 prev_pid=44 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    16.042039: workqueue_execute_start: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] .....    16.042053: workqueue_execute_end: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] d..2.    16.042059: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=I ==> next_comm=kswapd0 next_pid=44 next_prio=120
         kswapd0-44      [000] d..1.    16.042074: workqueue_queue_work: work struct=000000009020e768 function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
         kswapd0-44      [000] d..1.    16.042075: workqueue_activate_work: work struct 000000009020e768 function=shrink_worker
         kswapd0-44      [000] dN.4.    16.042080: sched_wakeup: comm=kworker/u4:1 pid=29 prio=120 target_cpu=000
         kswapd0-44      [000] d..2.    16.042084: sched_switch: prev_comm=kswapd0 prev_pid=44 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    16.042087: workqueue_execute_start: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] .....    16.042100: workqueue_execute_end: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] d..2.    16.042149: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=I ==> next_comm=kswapd0 next_pid=44 next_prio=120
          usemem-157     [000] d..1.    16.188249: workqueue_queue_work: work struct=000000009020e768 function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
          usemem-157     [000] d..1.    16.188251: workqueue_activate_work: work struct 000000009020e768 function=shrink_worker
          usemem-157     [000] dN.4.    16.188268: sched_wakeup: comm=kworker/u4:1 pid=29 prio=120 target_cpu=000
          usemem-157     [000] d..2.    16.188281: sched_switch: prev_comm=usemem prev_pid=157 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    16.188288: workqueue_execute_start: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] .....    16.188306: workqueue_execute_end: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] d..2.    16.188316: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=I ==> next_comm=usemem next_pid=157 next_prio=120
          usemem-157     [000] d..1.    16.188440: workqueue_queue_work: work struct=000000009020e768 function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
          usemem-157     [000] d..1.    16.188441: workqueue_activate_work: work struct 000000009020e768 function=shrink_worker
          usemem-157     [000] dN.4.    16.188449: sched_wakeup: comm=kworker/u4:1 pid=29 prio=120 target_cpu=000
          usemem-157     [000] d..2.    16.188456: sched_switch: prev_comm=usemem prev_pid=157 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    16.188460: workqueue_execute_start: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] .....    16.188475: workqueue_execute_end: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] d..2.    16.188481: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=I ==> next_comm=usemem next_pid=157 next_prio=120
          usemem-157     [000] d..1.    16.188518: workqueue_queue_work: work struct=000000009020e768 function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
          usemem-157     [000] d..1.    16.188519: workqueue_activate_work: work struct 000000009020e768 function=shrink_worker
          usemem-157     [000] dN.4.    16.188524: sched_wakeup: comm=kworker/u4:1 pid=29 prio=120 target_cpu=000
          usemem-157     [000] d..2.    16.188528: sched_switch: prev_comm=usemem prev_pid=157 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    16.188531: workqueue_execute_start: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] .....    16.188544: workqueue_execute_end: work struct 000000009020e768: function shrink_worker
    kworker/u4:1-29      [000] d..2.    16.188549: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=I ==> next_comm=usemem next_pid=157 next_prio=120
          usemem-157     [000] d..1.    16.188564: workqueue_queue_work: work struct=000000009020e768 function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
"""

# A hand-made trace. kworker/u4:1 (pid 29) runs the work four times:
#   run 1: queued 10.000000 by kswapd0, switched in .000010, runs .000012-.000032,
#          out .000036: queue->start 12 us, in->start 2, end->out 4, queue->in 10, CPU 20 us
#   run 2: queued .000400 by usemem, in .000420, runs .000500-.000900 but is
#          preempted .000600-.000700: queue->start 100, in->start 80, end->out 10,
#          queue->in 20, CPU 300 us; starts 0.5 ms after run 1, so same burst
#   run 3: queued .009990, in .009995, runs .010000-.016000 (a long run), out
#          .012000-.015000: queue->start 10, in->start 5, end->out 3, queue->in 5,
#          wall 6 ms, CPU 3 ms; new burst (9.5 ms after run 2's start)
#   run 4: queued .019980, in .019990, starts .020000, cut off by the end of the
#          trace: queue->start 20, in->start 10, queue->in 10; new burst (10 ms gap)
# plus junk, and a work item of another function that must not count.
SYNTH = """\
         kswapd0-44      [000] d..1.    10.000000: workqueue_queue_work: work struct=00000000aa function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
         kswapd0-44      [000] d..1.    10.000001: workqueue_activate_work: work struct 00000000aa function=shrink_worker
         kswapd0-44      [000] dN.4.    10.000002: sched_wakeup: comm=kworker/u4:1 pid=29 prio=120 target_cpu=000
         kswapd0-44      [000] d..2.    10.000010: sched_switch: prev_comm=kswapd0 prev_pid=44 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    10.000012: workqueue_execute_start: work struct 00000000aa: function shrink_worker
    kworker/u4:1-29      [000] .....    10.000032: workqueue_execute_end: work struct 00000000aa: function shrink_worker
    kworker/u4:1-29      [000] d..2.    10.000036: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=I ==> next_comm=usemem next_pid=156 next_prio=120
CPU:0 [LOST 3 EVENTS]
          usemem-156     [000] d..1.    10.000100: workqueue_queue_work: work struct=00000000bb function=vmstat_update workqueue=mm_percpu_wq req_cpu=0 cpu=0
          usemem-156     [000] d..1.    10.000400: workqueue_queue_work: work struct=00000000aa function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
          usemem-156     [000] d..2.    10.000420: sched_switch: prev_comm=usemem prev_pid=156 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    10.000500: workqueue_execute_start: work struct 00000000aa: function shrink_worker
    kworker/u4:1-29      [000] d..2.    10.000600: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=R+ ==> next_comm=usemem next_pid=156 next_prio=120
garbage that is no trace line
          usemem-156     [000] d..2.    10.000700: sched_switch: prev_comm=usemem prev_pid=156 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    10.000900: workqueue_execute_end: work struct 00000000aa: function shrink_worker
    kworker/u4:1-29      [000] d..2.    10.000910: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=I ==> next_comm=kswapd0 next_pid=44 next_prio=120
         kswapd0-44      [000] d..1.    10.009990: workqueue_queue_work: work struct=00000000aa function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
         kswapd0-44      [000] d..2.    10.009995: sched_switch: prev_comm=kswapd0 prev_pid=44 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    10.010000: workqueue_execute_start: work struct 00000000aa: function shrink_worker
    kworker/u4:1-29      [000] d..2.    10.012000: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=R+ ==> next_comm=usemem next_pid=156 next_prio=120
          usemem-156     [000] d..2.    10.015000: sched_switch: prev_comm=usemem prev_pid=156 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    10.016000: workqueue_execute_end: work struct 00000000aa: function shrink_worker
    kworker/u4:1-29      [000] d..2.    10.016003: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=I ==> next_comm=kswapd0 next_pid=44 next_prio=120
         kswapd0-44      [000] d..1.    10.019980: workqueue_queue_work: work struct=00000000aa function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
         kswapd0-44      [000] d..2.    10.019990: sched_switch: prev_comm=kswapd0 prev_pid=44 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    10.020000: workqueue_execute_start: work struct 00000000aa: function shrink_worker
"""


def _lines(text: str) -> list[str]:
    return text.splitlines()


# ---- parsing and summary ----


def test_parse_line_comm_with_dashes_and_spaces() -> None:
    ev = tr.parse_line(
        "   my-odd task-12    [001] d..1.     5.500001: sched_wakeup: comm=kworker/1:0 pid=9"
    )
    assert ev is not None
    assert (ev.comm, ev.pid, ev.cpu, ev.name) == ("my-odd task", 12, 1, "sched_wakeup")
    assert ev.t == pytest.approx(5.500001) and ev.body.startswith("comm=kworker/1:0")
    ev = tr.parse_line(_lines(REAL)[-1])  # "usemem-157"
    assert ev is not None and (ev.comm, ev.pid) == ("usemem", 157)
    ev = tr.parse_line("    kworker/u4:1-29      [000] .....    16.041662: workqueue_execute_start: x")
    assert ev is not None and (ev.comm, ev.pid) == ("kworker/u4:1", 29)


@pytest.mark.parametrize(
    "line",
    ["", "garbage", "CPU:0 [LOST 3 EVENTS]", "# tracer: nop", "x-1 [000] d..1. nan: ev: y",
     "kswapd0-44 [000] d..1. 1.5 no colon"],
)
def test_parse_line_skips_junk(line: str) -> None:
    assert tr.parse_line(line) is None


def test_summary_synthetic() -> None:
    passes = tr.pass_bounds(
        9.9,
        [
            {"proc": 0, "pass": 0, "elapsed_s": 0.105},
            {"proc": 1, "pass": 0, "elapsed_s": 5.0},  # only process 0 sets the bounds
            {"proc": 0, "pass": 1, "elapsed_s": 1.0},
            {"proc": 0, "bad": True},
        ],
    )
    assert passes == [(0, 9.9, pytest.approx(10.005)), (1, pytest.approx(10.005), pytest.approx(11.005))]
    s = tr.summarize(
        _lines(SYNTH),
        stats=[
            "cpu0 entries: 20 overrun: 2 commit overrun: 9 bytes: 1 dropped events: 0",
            "cpu1 entries: 1 overrun: 3 commit overrun: 0 bytes: 1 dropped events: 1",
        ],
        passes=passes,
        written_back=100,
    )
    assert s["events"] == 25 and s["skipped_lines"] == 2
    assert s["overrun"] == 5 and s["dropped"] == 1 and s["complete"] is True
    assert s["first_s"] == 10.0 and s["last_s"] == 10.02
    w = s["shrink_worker"]
    assert w["runs"] == 4 and w["unfinished"] == 1 and w["queued"] == 4
    assert w["queuers"] == {"kswapd0": 3, "usemem": 1}  # vmstat_update is not counted
    assert w["executors"] == {"kworker/u4:1": 4}
    # Delays 12, 100, 10, 20 us: sorted 10, 12, 20, 100.
    q = w["queue_to_start_us"]
    assert q["p50"] == pytest.approx(16.0) and q["p10"] == pytest.approx(10.6)
    assert q["p99"] == pytest.approx(97.6)
    assert w["started_within_50us"] == 0.75
    # Finished runs 20, 400, 6000 us.
    r = w["run_us"]
    assert r["p50"] == pytest.approx(400.0) and r["p10"] == pytest.approx(96.0)
    assert w["switch_in_to_start_us"] == pytest.approx(7.5)  # 2, 5, 10, 80
    assert w["end_to_switch_out_us"] == pytest.approx(4.0)  # 3, 4, 10
    assert w["queue_to_switch_in_us"] == pytest.approx(10.0)  # 5, 10, 10, 20
    b = w["bursts"]
    assert b["count"] == 3 and b["max_size"] == 2
    assert b["size"]["p50"] == 1.0 and b["size"]["p99"] == pytest.approx(2.0)  # 1.98, 1 decimal
    assert b["gap_ms"]["p10"] == pytest.approx(9.55) and b["gap_ms"]["p50"] == pytest.approx(9.75)
    assert w["long_runs_count"] == 1
    assert w["long_runs"] == [
        {"start_s": 10.01, "wall_ms": pytest.approx(6.0), "cpu_ms": pytest.approx(3.0)}
    ]
    assert w["cpu_ms_total"] == pytest.approx(3.32)  # 0.02 + 0.3 + 3.0; run 4 never ended
    assert w["written_back_pages"] == 100
    assert w["cpu_us_per_written_back_page"] == pytest.approx(33.2)
    assert [(p["pass"], p["runs"]) for p in w["per_pass"]] == [(0, 2), (1, 2)]
    assert w["per_pass"][0]["cpu_ms"] == pytest.approx(0.32)
    assert w["per_pass"][1]["cpu_ms"] == pytest.approx(3.0)
    json.dumps(s, allow_nan=False)  # plain JSON


# One long run (20 ms): preempted by usemem for 3 ms, blocked (D) for 5 ms while
# kblockd's kworker/0:1H ran 1 ms and then the CPU idled, and preempted by kswapd0.
OFF_CPU = """\
         kswapd0-44      [000] d..1.    20.000000: workqueue_queue_work: work struct=00000000aa function=shrink_worker workqueue=zswap-shrink req_cpu=8192 cpu=-1
         kswapd0-44      [000] d..2.    20.000005: sched_switch: prev_comm=kswapd0 prev_pid=44 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    20.000010: workqueue_execute_start: work struct 00000000aa: function shrink_worker
    kworker/u4:1-29      [000] d..2.    20.002000: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=R+ ==> next_comm=usemem next_pid=156 next_prio=120
          usemem-156     [000] d..2.    20.005000: sched_switch: prev_comm=usemem prev_pid=156 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] d..2.    20.008000: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=D ==> next_comm=kworker/0:1H next_pid=43 next_prio=100
    kworker/0:1H-43      [000] d..2.    20.009000: sched_switch: prev_comm=kworker/0:1H prev_pid=43 prev_prio=100 prev_state=I ==> next_comm=swapper/0 next_pid=0 next_prio=120
       swapper/0-0       [000] d..2.    20.013000: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] d..2.    20.015000: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=R+ ==> next_comm=kswapd0 next_pid=44 next_prio=120
         kswapd0-44      [000] d..2.    20.016000: sched_switch: prev_comm=kswapd0 prev_pid=44 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u4:1 next_pid=29 next_prio=120
    kworker/u4:1-29      [000] .....    20.020010: workqueue_execute_end: work struct 00000000aa: function shrink_worker
    kworker/u4:1-29      [000] d..2.    20.020020: sched_switch: prev_comm=kworker/u4:1 prev_pid=29 prev_prio=120 prev_state=I ==> next_comm=usemem next_pid=156 next_prio=120
"""


def test_summary_long_runs_off_cpu() -> None:
    w = tr.summarize(_lines(OFF_CPU))["shrink_worker"]
    assert w["long_runs_count"] == 1
    assert w["long_runs"][0]["cpu_ms"] == pytest.approx(11.0)  # 20 ms less 3 + 5 + 1 off
    off = w["long_runs_off_cpu"]
    assert off["wall_ms"] == pytest.approx(20.0)
    assert off["by_state_ms"] == {"R": pytest.approx(4.0), "D": pytest.approx(5.0)}
    assert off["by_state_count"] == {"R": 2, "D": 1}
    # Who took the CPU at the switch-out; the blocked stretch is charged to it whole.
    assert off["by_next_ms"] == {
        "kworker": pytest.approx(5.0), "usemem": pytest.approx(3.0), "kswapd0": pytest.approx(1.0)
    }
    assert off["other_kworkers_cpu_ms"] == {"kworker/0:1H": pytest.approx(1.0)}


def test_summary_real_fixture() -> None:
    lines = _lines(REAL)
    assert len(lines) == 66
    s = tr.summarize(lines, passes=[(0, 15.0, 16.1), (1, 16.1, 17.0)], written_back=None)
    assert s["events"] == 66 and s["skipped_lines"] == 0
    w = s["shrink_worker"]
    # Five runs queued by kswapd0, three by usemem, and one usemem queue_work at the
    # very end that has not started.
    assert (w["runs"], w["unfinished"], w["queued"]) == (8, 0, 9)
    assert w["queuers"] == {"kswapd0": 5, "usemem": 4}
    assert w["executors"] == {"kworker/u4:1": 8}
    # queue -> start: 2860, 86, 20, 19, 13, 39, 20, 13 us.
    assert w["queue_to_start_us"]["p50"] == pytest.approx(20.0)
    assert w["started_within_50us"] == 0.75
    # Runs 297, 31, 16, 14, 13, 18, 15, 13 us, each wholly on the CPU.
    assert w["run_us"]["p50"] == pytest.approx(15.5)
    assert w["cpu_ms_total"] == pytest.approx(0.417)
    assert w["switch_in_to_start_us"] == pytest.approx(3.5)
    assert w["end_to_switch_out_us"] == pytest.approx(8.0)
    assert w["queue_to_switch_in_us"] == pytest.approx(16.5)
    # Bursts: 1 run, 4 runs 3.64 ms later, 3 runs (usemem) 146.2 ms later.
    b = w["bursts"]
    assert b["count"] == 3 and b["max_size"] == 4
    assert b["gap_ms"]["p10"] == pytest.approx(3.640 + 0.1 * (146.201 - 3.640), abs=1e-3)
    assert w["long_runs"] == [] and w["long_runs_count"] == 0
    assert w["cpu_us_per_written_back_page"] is None
    assert [(p["pass"], p["runs"]) for p in w["per_pass"]] == [(0, 5), (1, 3)]


def test_summary_empty_and_broken() -> None:
    for lines in ([], ["junk", "", "  x-1 [0] oops"]):
        s = tr.summarize(lines, complete=False, written_back=0)
        w = s["shrink_worker"]
        assert s["events"] == 0 and s["overrun"] is None and s["complete"] is False
        assert s["first_s"] is None
        assert w["runs"] == 0 and w["queued"] == 0 and w["cpu_ms_total"] == 0
        assert w["queue_to_start_us"] is None and w["run_us"] is None
        assert w["started_within_50us"] is None and w["switch_in_to_start_us"] is None
        assert w["bursts"] == {"count": 0, "size": None, "max_size": 0, "gap_ms": None}
        assert w["cpu_us_per_written_back_page"] is None and w["per_pass"] == []


def test_summary_missing_events() -> None:
    # An end without its start, a start without a switch-in, a switch line that
    # does not parse, and a second start while the first is still open.
    text = """\
    kworker/u4:1-29      [000] .....    20.000010: workqueue_execute_end: work struct 00aa: function shrink_worker
    kworker/u4:1-29      [000] .....    20.000020: workqueue_execute_start: work struct 00aa: function shrink_worker
    kworker/u4:1-29      [000] d..2.    20.000030: sched_switch: prev_comm=kworker/u4:1 and then nothing
    kworker/u4:1-29      [000] .....    20.000040: workqueue_execute_start: work struct 00aa: function shrink_worker
    kworker/u4:1-29      [000] .....    20.000050: workqueue_execute_end: work struct 00aa: function shrink_worker
"""
    w = tr.summarize(_lines(text))["shrink_worker"]
    assert w["runs"] == 2 and w["unfinished"] == 1 and w["queued"] == 0
    assert w["queue_to_start_us"] is None and w["switch_in_to_start_us"] is None
    assert w["run_us"]["p50"] == pytest.approx(10.0)
    assert w["cpu_ms_total"] == pytest.approx(0.01)  # on the CPU since its first event


# ---- console ----


def test_console_trace_tags() -> None:
    text = (
        "@@EXIT 0\r\n"
        "@@TRACESTAT cpu0 entries: 2 overrun: 0 commit overrun: 0 \r\n"
        "@@TRACE          kswapd0-44      [000] d..1.    16.035162: workqueue_queue_work: x\r\n"
        "[   70.1] a kernel message\r\n"
        "@@TRACE     kworker/u4:1-29      [000] .....    16.038022: workqueue_execute_start: y\r\n"
        "@@TRACEEND\r\n"
    )
    c = con.parse_console(text)
    assert c.exit_status == 0
    assert c.trace_stats == ["cpu0 entries: 2 overrun: 0 commit overrun: 0"]
    # Raw: the trace's own leading padding is kept.
    assert c.trace_lines == [
        "         kswapd0-44      [000] d..1.    16.035162: workqueue_queue_work: x",
        "    kworker/u4:1-29      [000] .....    16.038022: workqueue_execute_start: y",
    ]
    assert c.trace_end is True
    c = con.parse_console("@@EXIT 0\n@@TRACE a-1 [000] ....    1.0: e: b\n")
    assert c.trace_end is False and len(c.trace_lines) == 1 and c.trace_stats == []
    assert con.parse_console("@@EXIT 0\n").trace_lines == []


# ---- guest /init ----


def _plan(profile: Path, trace: bool) -> GuestPlan:
    return plan_guest(load_scenario(SCENARIO), load_profile(profile), str(SCENARIO), trace=trace)


def test_init_script_without_trace(lab_profile: Path) -> None:
    plan = _plan(lab_profile, False)
    assert plan.trace is False
    text = init_script(plan, [])
    assert "tracing" not in text and "@@TRACE" not in text and "kallsyms" not in text


def test_init_script_with_trace(lab_profile: Path) -> None:
    plan = _plan(lab_profile, True)
    assert plan.trace is True
    assert dataclasses.replace(_plan(lab_profile, False), trace=True) == plan
    text = init_script(plan, [])
    lines = text.splitlines()

    def at(needle: str) -> int:
        return next(i for i, ln in enumerate(lines) if needle in ln)

    run, usemem, exit_ = at('echo "@@RUN'), at("/bin/usemem"), at('echo "@@EXIT')
    # Set up just before @@RUN, after everything else.
    setup = at("mount -t tracefs nodev /sys/kernel/tracing")
    assert at("@@PARAM") < setup < at("echo 1 > $T/tracing_on") < run < usemem
    assert "grep ' shrink_worker$' /proc/kallsyms" in text
    assert "echo 8192 > $T/buffer_size_kb" in text
    for e in ("queue_work", "activate_work", "execute_start", "execute_end"):
        assert f"workqueue_{e}" in text
    assert 'echo "function == 0x$A" > $T/events/workqueue/$e/filter' in text
    assert "prev_comm ~ \"kworker*\" || next_comm ~ \"kworker*\"" in text
    assert "comm ~ \"kworker*\"" in text
    assert "@@MISSING trace: no shrink_worker" in text and "@@MISSING trace: no tracefs" in text
    # Dumped after @@EXIT, before power-off.
    stop = at("echo 0 > $T/tracing_on")
    assert exit_ < stop < at("@@TRACESTAT") < at("sed 's/^/@@TRACE /'") < at("@@TRACEEND")
    assert at("@@TRACEEND") < len(lines) - 2 and lines[-2] == "poweroff -f"
    # The pool sampler starts after tracing is on and is dumped before the trace.
    assert at("echo 1 > $T/tracing_on") < at("POOL_FILE=") < run
    assert exit_ < at("sed 's/^/@@POOL /'") < stop
    sh = shutil.which("sh")
    if sh is not None:
        subprocess.run([sh, "-n"], input=text, text=True, check=True)


@pytest.mark.skipif(shutil.which("sh") is None, reason="no sh")
def test_trace_dump_snippet(tmp_path: Path) -> None:
    """TRACE_DUMP run by sh against a fake tracefs, then read back by the console."""
    t = tmp_path / "tracing"
    (t / "per_cpu" / "cpu0").mkdir(parents=True)
    (t / "per_cpu" / "cpu0" / "stats").write_text("entries: 3\noverrun: 0\ncommit overrun: 0\n")
    (t / "tracing_on").write_text("1\n")
    body = _lines(SYNTH)[:7]
    (t / "trace").write_text("# tracer: nop\n#\n" + "\n".join(body) + "\n")
    out = subprocess.run(
        ["sh", "-c", f"T={t}\n{TRACE_DUMP}"], capture_output=True, text=True, check=True
    ).stdout
    assert (t / "tracing_on").read_text().strip() == "0"
    c = con.parse_console(out)
    assert c.trace_stats == ["cpu0 entries: 3 overrun: 0 commit overrun: 0"]
    assert c.trace_lines == body and c.trace_end
    s = tr.summarize(c.trace_lines, stats=c.trace_stats)
    assert s["overrun"] == 0 and s["shrink_worker"]["runs"] == 1
    # Without tracing set up (T empty) nothing is printed.
    out = subprocess.run(["sh", "-c", f"T=\n{TRACE_DUMP}"], capture_output=True, text=True,
                         check=True).stdout
    assert out == ""


@pytest.mark.skipif(shutil.which("busybox") is None or not Path("/proc/uptime").exists(),
                    reason="no busybox or /proc")
def test_pool_sampler_snippet(tmp_path: Path) -> None:
    """POOL_SAMPLER and POOL_DUMP run by the guest's shell (busybox ash, whose `read -t`
    takes fractions) against a fake debugfs: samples come back as @@POOL lines, in
    POOL_COLUMNS order, about POOL_SAMPLE_S apart, and reach the trace record."""
    d = tmp_path / "zswap"
    d.mkdir()
    for name, value in (("pool_total_size", 8192), ("stored_pages", 3), ("pool_limit_hit", 7),
                        ("written_back_pages", 2)):
        (d / name).write_text(f"{value}\n")
    env = f"D={d}\nPOOL_FILE={tmp_path / 'samples'}\n"
    out = subprocess.run(["busybox", "sh", "-c", f"{env}{POOL_SAMPLER}\nsleep 0.5\n{POOL_DUMP}"],
                         capture_output=True, text=True, check=True, timeout=10).stdout
    c = con.parse_console(out)
    # 0.5 s at 0.05 s a sample; a busy host may stretch the sleeps, never shorten them.
    assert 3 <= len(c.pool_samples) <= 11
    assert all(s[1:] == [8192, 3, 7, 2] for s in c.pool_samples)
    assert c.pool_samples[0][0] <= c.pool_samples[-1][0]
    rec = tr.trace_record(c, {})
    assert rec["pool"]["columns"] == list(tr.POOL_COLUMNS)
    assert rec["pool"]["samples"][0][1:] == [8192, 3, 7, 2]
    # No debugfs: one @@MISSING line, no sampler, nothing dumped.
    env = f"D={tmp_path / 'none'}\nPOOL_FILE={tmp_path / 'samples2'}\n"
    out = subprocess.run(["busybox", "sh", "-c", f"{env}{POOL_SAMPLER}\n{POOL_DUMP}"],
                         capture_output=True, text=True, check=True, timeout=10).stdout
    c = con.parse_console(out)
    assert c.pool_samples == [] and c.missing == [
        f"trace: no {tmp_path / 'none'}/pool_total_size to sample"]


def test_console_pool_tag() -> None:
    c = con.parse_console("@@POOL 12.5 4096 1 0 0\n@@POOL 12.55 8192 2 1\n@@POOL x 1 2 3 4\n")
    assert c.pool_samples == [[12.5, 4096.0, 1.0, 0.0, 0.0]]  # short and odd lines are skipped
    assert "pool" not in tr.trace_record(con.parse_console("@@EXIT 0\n"), {})


# ---- record ----


def _record(plan: GuestPlan, text: str) -> dict:
    c = con.parse_console(text)
    check_console(c, plan)
    sc = load_scenario(SCENARIO)
    return make_record(
        c,
        plan,
        sc.model_dump(mode="json", by_alias=True),
        "lab-qemu",
        command_line(str(SCENARIO), [], "lab-qemu", None, 900, plan.trace),
        {"accel": "tcg"},
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        sc.name,
    )


def test_record_with_trace(lab_profile: Path) -> None:
    text = SAMPLE.read_text()
    dump = "@@TRACESTAT cpu0 entries: 65 overrun: 0\n"
    dump += "".join(f"@@TRACE {ln}\n" for ln in _lines(REAL)) + "@@TRACEEND\n"
    rec = _record(_plan(lab_profile, True), text.replace("@@EXIT 0\n", "@@EXIT 0\n" + dump))
    assert rec["commands"][0].endswith(" --trace")
    t = rec["trace"]
    assert t["events"] == 66 and t["overrun"] == 0 and t["complete"] is True
    w = t["shrink_worker"]
    assert w["runs"] == 8
    # zswpwb of the run, from the record's snapshots (after - before).
    snaps = rec["snapshots"]
    wb = snaps["after"]["vmstat"]["zswpwb"] - snaps["before"]["vmstat"]["zswpwb"]
    assert w["written_back_pages"] == wb
    if wb:
        assert w["cpu_us_per_written_back_page"] == pytest.approx(417 / wb, abs=1e-3)
    # The sample's @@RUN is 3.37 and pass 0 lasts 15.6 s: all eight runs are in pass 0.
    assert [p["runs"] for p in w["per_pass"]] == [8, 0, 0, 0]
    assert w["per_pass"][0]["start_s"] == 3.37
    assert not any(m.startswith("trace:") for m in rec["missing"])
    # The validator takes the record with its trace, and saves it back unchanged.
    loaded = parse_record(json.loads(json.dumps(rec)), "rec.json")
    assert record_to_dict(loaded)["trace"] == rec["trace"]


def test_record_without_trace(lab_profile: Path) -> None:
    rec = _record(_plan(lab_profile, False), SAMPLE.read_text())
    assert "trace" not in rec and not rec["commands"][0].endswith("--trace")
    loaded = parse_record(rec, "rec.json")
    assert loaded.trace is None and "trace" not in record_to_dict(loaded)


def test_record_trace_cut_off(lab_profile: Path) -> None:
    text = SAMPLE.read_text().replace(
        "@@EXIT 0\n", "@@EXIT 0\n@@TRACE " + _lines(REAL)[0] + "\n"
    )
    rec = _record(_plan(lab_profile, True), text)
    assert rec["trace"]["complete"] is False and rec["trace"]["events"] == 1
    assert "trace: the dump did not end (no @@TRACEEND)" in rec["missing"]
    # A reason the guest gave is kept instead.
    text = SAMPLE.read_text().replace(
        "@@RUN", "@@MISSING trace: no shrink_worker in /proc/kallsyms\n@@RUN"
    )
    rec = _record(_plan(lab_profile, True), text)
    assert rec["missing"].count("trace: no shrink_worker in /proc/kallsyms") == 1
    assert not any("TRACEEND" in m for m in rec["missing"])
    assert rec["trace"]["events"] == 0


def test_cli_trace_flag(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict = {}

    def fake(*args: object, **kw: object) -> dict:
        seen.update(kw)
        return {
            "id": "x", "kernel": {"release": "6.12"}, "host": {"accel": "tcg", "wall_s": 1.0},
            "workload": {"elapsed_s": 1.0, "passes": []},
            "trace": tr.summarize(_lines(SYNTH)),
        }

    monkeypatch.setattr("perfmodel.lab.run.lab_run", fake)
    assert lab_main.main(["run", "sc.yaml", "--trace"]) == 0
    assert seen["trace"] is True
    assert "shrink_worker 4 runs" in capsys.readouterr().out
    assert lab_main.main(["run", "sc.yaml"]) == 0
    assert seen["trace"] is False


def test_profile_costs_from_traced_runs() -> None:
    """perfmodel lab profile derives the writeback and kworker-wakeup costs from the
    traced runs: long-run CPU per written-back page less decompression, and the sum of
    the three wakeup/switch medians; the mean over the records."""
    from perfmodel.lab.bench import trace_cost_lines

    def rec(per_page: float, wake: tuple[float, float, float]) -> dict:
        w = {"long_runs_cpu_us_per_written_back_page": per_page,
             "queue_to_wakeup_us": wake[0], "switch_in_to_start_us": wake[1],
             "end_to_switch_out_us": wake[2]}
        return {"trace": {"shrink_worker": w}}

    lines = trace_cost_lines([("a.json", rec(65.0, (5, 2, 4))),
                              ("b.json", rec(67.0, (4, 2, 4)))], 7000.0)
    assert lines[0].startswith("  zswap_writeback_ns: 59000  #") and "a.json, b.json" in lines[0]
    assert lines[1].startswith("  kworker_wakeup_ns: 10500  #")
    assert trace_cost_lines([], 7000.0) == []


# kswapd0 woken twice and kswapd1 once; usemem in direct reclaim twice (2 ms, 32 pages;
# 1 ms, 0 pages) and a third begin left open by the end of the trace.
RECLAIM = """\
          usemem-156     [000] d..1.     5.000000: mm_vmscan_kswapd_wake: nid=0 order=0
          usemem-156     [000] d..1.     5.500000: mm_vmscan_direct_reclaim_begin: order=0 gfp_flags=GFP_HIGHUSER_MOVABLE
          usemem-156     [000] d..1.     5.502000: mm_vmscan_direct_reclaim_end: nr_reclaimed=32
          usemem-156     [000] d..1.     6.200000: mm_vmscan_kswapd_wake: nid=0 order=0
          usemem-156     [000] d..1.     6.300000: mm_vmscan_kswapd_wake: nid=1 order=0
          usemem-156     [000] d..1.     6.400000: mm_vmscan_direct_reclaim_begin: order=0 gfp_flags=GFP_HIGHUSER_MOVABLE
          usemem-156     [000] d..1.     6.401000: mm_vmscan_direct_reclaim_end: nr_reclaimed=0
          usemem-156     [000] d..1.     6.500000: mm_vmscan_direct_reclaim_begin: order=0 gfp_flags=GFP_HIGHUSER_MOVABLE
"""


def test_summary_reclaim_events() -> None:
    """kswapd wakeups by node, and each direct reclaim's time and nr_reclaimed, in all
    and by pass (times from the pass start)."""
    s = tr.summarize(_lines(RECLAIM), passes=[(0, 4.0, 6.0), (1, 6.0, 9.0)])
    r = s["reclaim"]
    assert r["kswapd_wakes"] == {"node0": 2, "node1": 1}
    assert r["direct_reclaims"] == 2
    assert r["direct_reclaim_us"]["p50"] == pytest.approx(1500.0)
    assert r["direct_reclaimed"]["p50"] == pytest.approx(16.0)
    p0, p1 = r["per_pass"]
    assert p0 == {"pass": 0, "kswapd_wakes": 1, "first_kswapd_wake_s": pytest.approx(1.0),
                  "direct_reclaims": 1, "first_direct_reclaim_s": pytest.approx(1.5),
                  "direct_reclaim_ms": pytest.approx(2.0), "direct_reclaimed": 32}
    assert p1["kswapd_wakes"] == 2 and p1["first_kswapd_wake_s"] == pytest.approx(0.2)
    assert p1["direct_reclaims"] == 1 and p1["direct_reclaimed"] == 0
    # The shrink worker's summary is unaffected by the reclaim events.
    assert s["shrink_worker"]["runs"] == 0
    json.dumps(s, allow_nan=False)
