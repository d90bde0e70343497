"""python -m perfmodel.lab run SCENARIO [--hardware P] [--set K=V]... [--out F] [--trace]
python -m perfmodel.lab profile [--kernel 6.12] [--out-dir hardware]"""

from __future__ import annotations

import argparse
import sys

from perfmodel.errors import PerfmodelError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="perfmodel lab", description="Kernel lab in QEMU.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a scenario in a QEMU guest and write its run record")
    r.add_argument("scenario")
    r.add_argument("--hardware", "-H", default="lab-qemu")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    r.add_argument("--out", "-o")
    r.add_argument("--timeout", type=float, default=900.0)
    r.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
    r.add_argument(
        "--trace",
        action="store_true",
        help="ftrace the zswap shrink worker and its kworker; summary in record['trace']",
    )
    r.add_argument("--verbose", "-v", action="store_true", help="log the steps to stderr")
    p = sub.add_parser(
        "profile",
        help="measure the lab guests and write hardware/lab-qemu.yaml and lab-qemu-2node.yaml",
    )
    p.add_argument("--kernel", default="6.12", help="kernel series to boot (default 6.12)")
    p.add_argument("--out-dir", default="hardware", help="where the profiles go (default hardware)")
    p.add_argument("--only", action="append", metavar="PROFILE",
                   help="measure only this profile (lab-qemu or lab-qemu-2node); repeatable")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per guest boot")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
    p.add_argument("--verbose", "-v", action="store_true", help="log the steps to stderr")
    a = ap.parse_args(argv)
    if a.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if a.cmd == "profile":
        return _profile(a)

    from perfmodel.lab.run import lab_run

    try:
        rec = lab_run(
            a.scenario, a.overrides, a.hardware, a.out, a.timeout, accel=a.accel, trace=a.trace
        )
    except PerfmodelError as e:
        print(f"perfmodel lab: error: {e}", file=sys.stderr)
        return 2
    w = rec["workload"]
    print(f"{rec['id']}: {rec['kernel']['release']} {rec['host']['accel']} "
          f"wall {rec['host']['wall_s']:.1f} s, workload {w['elapsed_s']:.1f} s")
    for p in w["passes"]:
        print(f"  pass {p['pass']} {p['kind']:6s} {p['elapsed_s']:8.2f} s "
              f"{p['throughput_mbps']:8.1f} MB/s")
    if "trace" in rec:
        t, sw = rec["trace"], rec["trace"]["shrink_worker"]
        print(f"  trace: {t['events']} events, overrun {t['overrun']}, "
              f"shrink_worker {sw['runs']} runs, {sw['cpu_ms_total']:.1f} ms on CPU")
    return 0


def _profile(a: argparse.Namespace) -> int:
    from perfmodel.lab.bench import lab_profile, summary

    try:
        done = lab_profile(a.kernel, a.out_dir, a.timeout, accel=a.accel, profiles=a.only)
    except PerfmodelError as e:
        print(f"perfmodel lab: error: {e}", file=sys.stderr)
        return 2
    for path, run in done:
        print(f"wrote {path}")
        for line in summary(run):
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
