"""python -m perfmodel.lab run SCENARIO [--hardware P] [--set K=V]... [--out F]"""

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
    r.add_argument("--verbose", "-v", action="store_true", help="log the steps to stderr")
    a = ap.parse_args(argv)
    if a.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from perfmodel.lab.run import lab_run

    try:
        rec = lab_run(a.scenario, a.overrides, a.hardware, a.out, a.timeout, accel=a.accel)
    except PerfmodelError as e:
        print(f"perfmodel lab: error: {e}", file=sys.stderr)
        return 2
    w = rec["workload"]
    print(f"{rec['id']}: {rec['kernel']['release']} {rec['host']['accel']} "
          f"wall {rec['host']['wall_s']:.1f} s, workload {w['elapsed_s']:.1f} s")
    for p in w["passes"]:
        print(f"  pass {p['pass']} {p['kind']:6s} {p['elapsed_s']:8.2f} s "
              f"{p['throughput_mbps']:8.1f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
