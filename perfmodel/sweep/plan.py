"""Capacity planning: the configurations of a sweep that meet every requirement, ranked."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from perfmodel.errors import ConfigError
from perfmodel.sweep.engine import SweepData
from perfmodel.sweep.metrics import BY_NAME
from perfmodel.sweep.summary import LEVEL

OPS = ("<=", ">=", "<", ">")
_REQ_RE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|<|>)\s*(\S+?)\s*$")
DEFAULT_OBJECTIVE = ("maximize", "throughput_mbps")


@dataclass(frozen=True)
class Requirement:
    metric: str
    op: str
    bound: float

    @property
    def text(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"

    @property
    def upper(self) -> bool:
        return self.op in ("<=", "<")

    def holds(self, v: float) -> bool:
        if math.isnan(v):
            return False
        return {"<=": v <= self.bound, ">=": v >= self.bound,
                "<": v < self.bound, ">": v > self.bound}[self.op]


def parse_requirement(text: str) -> Requirement:
    """METRIC<=VALUE or METRIC>=VALUE (also < and >); '20%' means 0.2."""
    m = _REQ_RE.match(text)
    if not m:
        raise ConfigError("--require", None,
                          f"{text!r}: expected METRIC<=VALUE or METRIC>=VALUE")
    name, op, raw = m.groups()
    if name not in BY_NAME:
        raise ConfigError("--require", name, f"unknown metric (known: {', '.join(BY_NAME)})")
    try:
        bound = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError("--require", name, f"{raw!r} is not a number") from None
    if math.isnan(bound):
        raise ConfigError("--require", name, f"{raw!r} is not a number")
    return Requirement(name, op, bound)


@dataclass
class Check:
    req: Requirement
    mean: float
    low: float
    high: float
    judged: float  # the value compared with the bound
    ok: bool


@dataclass
class Candidate:
    point: dict[str, Any]
    row: dict[str, Any]
    checks: list[Check]
    problem: str | None  # a run failed or stopped early: not a usable configuration
    objective: float = math.nan

    @property
    def feasible(self) -> bool:
        return self.problem is None and all(c.ok for c in self.checks)


@dataclass
class Binding:
    req: Requirement
    met_by: int  # points meeting this requirement
    others_met_by: int  # points meeting every other requirement
    closest: Candidate | None  # among those (or all), the one nearest the bound


@dataclass
class PlanResult:
    requirements: list[Requirement]
    objective: tuple[str, str]  # ("minimize" | "maximize", metric or swept key)
    judge: str
    candidates: list[Candidate]
    ranked: list[Candidate]
    binding: list[Binding] = field(default_factory=list)

    @property
    def best(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None


def _objective(data: SweepData, name: str, option: str) -> str:
    if name in BY_NAME:
        return name
    keys = data.keys
    hits = [k for k in keys if k == name] or [
        k for k, s in data.names.items() if s == name or k.endswith("." + name)]
    if len(hits) != 1:
        raise ConfigError(option, name, "neither a metric nor a swept key "
                          f"(metrics: {', '.join(BY_NAME)}; swept: {', '.join(keys) or 'none'})")
    key = hits[0]
    for p in data.points:
        v = _num(p["values"][key])
        if math.isnan(v):
            raise ConfigError(option, key, f"value {p['values'][key]!r} is not a number")
    return key


def _num(text: str) -> float:
    try:
        v = yaml.safe_load(text)
    except yaml.YAMLError:
        return math.nan
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan


def _check(req: Requirement, row: dict[str, Any], judge: str) -> Check:
    mean, lo, hi = (row[f"{req.metric}_{s}"] for s in ("mean", "ci_low", "ci_high"))
    judged = mean
    if judge == "ci":  # the pessimistic end of the interval must meet the bound
        bound_side = hi if req.upper else lo
        judged = mean if math.isnan(bound_side) else bound_side
    return Check(req, mean, lo, hi, judged, req.holds(judged))


def evaluate(
    data: SweepData,
    requirements: list[Requirement],
    minimize: str | None = None,
    maximize: str | None = None,
    judge: str = "ci",
) -> PlanResult:
    """Judge every point; with judge='ci' a point is feasible only if its whole 95%
    confidence interval is on the right side of each bound (with one replication
    there is no interval and the mean decides)."""
    if minimize and maximize:
        raise ConfigError("--minimize", None, "give --minimize or --maximize, not both")
    if minimize:
        objective = ("minimize", _objective(data, minimize, "--minimize"))
    elif maximize:
        objective = ("maximize", _objective(data, maximize, "--maximize"))
    else:
        objective = DEFAULT_OBJECTIVE
    rows = {r["point"] - 1: r for r in data.summary}
    cands = []
    for p in data.points:
        row = rows.get(p["index"])
        if row is None:
            continue
        problem = None
        if row["failed"]:
            errs = {r.get("error") for r in data.point_records(p["index"]) if r.get("error")}
            problem = f"{row['failed']} run(s) failed: {'; '.join(sorted(errs))}"
        elif row["truncated"]:
            problem = f"{row['truncated']} run(s) stopped at sim.max_sim_seconds"
        c = Candidate(p, row, [_check(q, row, judge) for q in requirements], problem)
        name = objective[1]
        c.objective = row[f"{name}_mean"] if name in BY_NAME else _num(p["values"][name])
        cands.append(c)
    sign = 1.0 if objective[0] == "minimize" else -1.0
    ranked = sorted(
        (c for c in cands if c.feasible),
        key=lambda c: (sign * c.objective, -c.row["throughput_mbps_mean"], c.point["index"]),
    )
    res = PlanResult(requirements, objective, judge, cands, ranked)
    if not ranked and requirements:
        res.binding = binding(cands, requirements)
    return res


def binding(cands: list[Candidate], reqs: list[Requirement]) -> list[Binding]:
    """Which requirement keeps every point out: those whose removal alone would let a
    point in; when no single removal does, those met by the fewest points."""
    usable = [c for c in cands if c.problem is None]
    out = []
    for i, q in enumerate(reqs):
        met = sum(c.checks[i].ok for c in usable)
        others = [c for c in usable if all(k.ok for j, k in enumerate(c.checks) if j != i)]
        # nearest the bound on the judged value, among the points that meet the others
        # (or among all usable points when none does)
        pool = others or usable
        closest = min(pool, key=lambda c: abs(c.checks[i].judged - q.bound), default=None)
        out.append(Binding(q, met, len(others), closest))
    alone = [b for b in out if b.others_met_by > 0]
    if alone:
        return alone
    fewest = min(b.met_by for b in out)
    return [b for b in out if b.met_by == fewest]


def _fmt(metric: str, v: float) -> str:
    return BY_NAME[metric].show(v).strip() if metric in BY_NAME else f"{v:g}"


def _ci(metric: str, c: Check | None = None, mean: float = math.nan, lo: float = math.nan,
        hi: float = math.nan) -> str:
    if c is not None:
        mean, lo, hi = c.mean, c.low, c.high
    if math.isnan(lo):
        return _fmt(metric, mean)
    return f"{_fmt(metric, mean)} [{_fmt(metric, lo)}, {_fmt(metric, hi)}]"


def _row_ci(metric: str, row: dict[str, Any]) -> str:
    return _ci(metric, mean=row[f"{metric}_mean"], lo=row[f"{metric}_ci_low"],
               hi=row[f"{metric}_ci_high"])


def _config(data: SweepData, c: Candidate) -> str:
    parts = [c.point["hardware"]] + [f"{k}={v}" for k, v in c.point["values"].items()]
    return " ".join(parts)


def print_plan(data: SweepData, res: PlanResult, console: Console) -> None:
    names = data.names

    def say(text: str, style: str | None = None) -> None:
        # Whole lines (for grep and logs); values are data, never rich markup.
        console.print(text, soft_wrap=True, markup=False, style=style)

    keys = data.keys
    direction, obj = res.objective
    obj_name = names.get(obj, obj)
    how = ("the whole 95% CI" if res.judge == "ci" else "the mean")
    reqs = ", ".join(q.text for q in res.requirements) or "none"
    say(f"requirements: {reqs} (judged on {how}); "
                  f"ranked by {obj_name} ({'lowest' if direction == 'minimize' else 'highest'} "
                  f"first)")
    t = Table(title=f"feasible configurations: {len(res.ranked)} of {len(res.candidates)} "
              f"(mean [{LEVEL:.0%} CI])", title_justify="left")
    t.add_column("rank", justify="right")
    t.add_column("#", justify="right")
    t.add_column("hardware")
    for k in keys:
        t.add_column(names[k])
    shown = [q.metric for q in res.requirements]
    if obj in BY_NAME and obj not in shown:
        shown.append(obj)
    for m in shown:
        t.add_column(m, justify="right")
    for rank, c in enumerate(res.ranked, 1):
        t.add_row(*map(escape, [str(rank), str(c.point["index"] + 1), c.point["hardware"],
                                *(c.point["values"][k] for k in keys),
                                *(_row_ci(m, c.row) for m in shown)]))
    if res.ranked:
        console.print(t)
    best = res.best
    if best is not None:
        say(f"recommendation: {_config(data, best)}", "bold")
        for ch in best.checks:
            say(f"  {ch.req.metric} {_ci(ch.req.metric, ch)} {ch.req.op} "
                          f"{ch.req.bound:g}")
        if obj in BY_NAME and obj not in [q.metric for q in res.requirements]:
            say(f"  {obj} {_row_ci(obj, best.row)}")
        n = best.row["runs"] - best.row["failed"]
        say(f"  ({n} replications; intervals are {LEVEL:.0%} Student-t)")
        return
    say("no configuration meets every requirement", "bold red")
    bad = [c for c in res.candidates if c.problem]
    for c in bad:
        say(f"  point {c.point['index'] + 1} ({_config(data, c)}): {c.problem}")
    for b in res.binding:
        q = b.req
        line = (f"binding: {q.text}: met by {b.met_by} of {len(res.candidates)} points; "
                f"{b.others_met_by} meet the other requirements")
        if b.closest is not None:
            ch = next(k for k in b.closest.checks if k.req == q)
            which = "of those" if b.others_met_by else "point"
            line += (f"; the nearest {which} reaches {_ci(q.metric, ch)} at "
                     f"{_config(data, b.closest)}")
        say(line)


def plan_dict(data: SweepData, res: PlanResult) -> dict[str, Any]:
    def cand(c: Candidate) -> dict[str, Any]:
        return {
            "point": c.point["index"] + 1,
            "hardware": c.point["hardware"],
            "values": c.point["values"],
            "feasible": c.feasible,
            "problem": c.problem,
            "objective": None if math.isnan(c.objective) else c.objective,
            "checks": [{"requirement": k.req.text, "mean": k.mean, "ci_low": k.low,
                        "ci_high": k.high, "judged": k.judged, "ok": k.ok} for k in c.checks],
        }

    best = res.best
    return {
        "sweep": str(data.root),
        "requirements": [q.text for q in res.requirements],
        "judge": res.judge,
        "objective": {"direction": res.objective[0], "name": res.objective[1]},
        "recommendation": cand(best) if best else None,
        "ranked": [cand(c) for c in res.ranked],
        "binding": [{"requirement": b.req.text, "met_by": b.met_by,
                     "others_met_by": b.others_met_by,
                     "closest": cand(b.closest) if b.closest else None} for b in res.binding],
        "candidates": [cand(c) for c in res.candidates],
    }
