"""A capacity model of the many-writers curve, checked against it, and a
plot: ``python -m bench.writers_model RESULTS_JSON [--svg FILE]``.

``RESULTS_JSON`` is what ``python -m bench.run_writers`` wrote.  For each
variant the model is

    X(n, C) = min(n / R1,  C / D,  1 / S)

* ``R1``: seconds per commit of one writer alone (its measured rate at
  n = 1): n writers cannot do better than n times that;
* ``D``: CPU seconds per commit on the cores that are the bottleneck.  On
  the benchmark machine client, subscriber and server share the cores, so
  D is all three (measured from /proc at the highest writer count); on a
  big server the clients run elsewhere and D is the server's share only;
* the benchmark's writers are one Python process: at most one core, so
  ``X <= 1 / D_client`` on the benchmark machine;
* ``C``: cores.  On a shared machine the cores left to the benchmark are
  fewer than the machine has: ``C_eff`` is fitted on (a) alone (the one
  variant with no serial part) and then used unchanged for the others, so
  their rows check the model;
* ``S``: seconds per commit that cannot overlap with other commits.
  (a) and (c0) have none beyond what all share (the sequence, the right
  edge of the primary key).  (b): NOTIFY's commit lock, which a notifying
  transaction holds from queueing its notification to the end of its
  commit; bounded above by what NOTIFY adds to one writer's transaction,
  ``R1(b) - R1(a)``, and by the best rate (b) reached, ``1 / X_top(b)``,
  so the model's ceiling for (b) is a lower bound.
  (c): relay rounds are serialised (one row lock), so their server time
  per commit, from pg_stat_statements, is (c)'s serial part.

The output is a Markdown table (measured vs model at each n on the
measured machine, then the model at 16 and 64 cores) and, with --svg, a
plot of the measured curve and the model.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

STYLE = "one statement per transaction"
SHORT = {
    "(a) no publishing": "a",
    "(b) NOTIFY per transaction": "b",
    "(c) pgext durable": "c",
    "(c0) floor: outbox row only, undelivered": "c0",
}
COLOURS = {"a": "#444444", "b": "#d62728", "c": "#1f77b4", "c0": "#2ca02c"}


def load_curve(
    path: Path, server: str = "fsync off"
) -> dict[str, dict[int, dict[str, Any]]]:
    """variant -> writers -> summary (commits_per_s, cpu_us_per_commit, ...)
    as measured on the ``server`` kind (runs from before there were kinds
    were all on the harness's fsync-off server)."""
    curve: dict[str, dict[int, dict[str, Any]]] = {}
    for result in json.loads(path.read_text()):
        details = result.get("details") or {}
        if details.get("style") != STYLE:
            continue
        if details.get("server_kind", "fsync off") != server:
            continue
        for name, summary in details["variants"].items():
            if name in SHORT:  # not the (c0e) point, measured at one n only
                curve.setdefault(SHORT[name], {})[details["writers"]] = summary
    return curve


def fit(curve: dict[str, dict[int, dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """R1, D (all CPU), D_server and S per variant; C_eff from (a)."""
    params: dict[str, dict[str, float]] = {}
    for variant, points in curve.items():
        # CPU per commit where the variant peaked: past the peak the
        # machine is oversubscribed and CPU per commit grows.
        top = max(points, key=lambda n: points[n]["commits_per_s"])
        cpu = points[top]["cpu_us_per_commit"]
        params[variant] = {
            "R1": 1 / points[min(points)]["commits_per_s"],
            "D": sum(cpu.values()) / 1e6,
            "D_client": cpu["client"] / 1e6,
            "D_server": cpu["server"] / 1e6,
            "X_top": points[top]["commits_per_s"],
            "top": float(top),
        }
    c_eff = params["a"]["X_top"] * params["a"]["D"]
    for variant, p in params.items():
        p["C_eff"] = c_eff
        p["S"] = 0.0
        if variant == "b":
            # No more than the curve allows: b reached X_top with it.
            p["S"] = min(max(0.0, p["R1"] - params["a"]["R1"]), 1 / p["X_top"])
        elif variant == "c":
            p["S"] = _stamp_time(curve["c"][int(p["top"])]) / 1e6
            p.update(_relay_fit(curve["c"]))
    return params


# The relay's window under a sustained stream (Hub's relay_max_window
# default): rounds come at most this often, so a round numbers at least
# rate x this many messages.
RELAY_PERIOD = 0.004


def _stamp_time(point: dict[str, Any]) -> float:
    """us per commit the relay's rounds took (pg_stat_statements)."""
    return float(
        sum(
            s["us_per_commit"]
            for s in point["statements"]
            if "pgext_outbox_stamp" in s["query"]
        )
    )


def _relay_fit(points: dict[int, dict[str, Any]]) -> dict[str, float]:
    """A round's time as ``F + v * m`` (m messages a round), fitted by least
    squares over the writer counts: F is the fixed cost of a round, v the
    cost per message.  Empty when there are too few points to fit."""
    xs, ys = [], []
    for point in points.values():
        calls = sum(
            s["calls_per_commit"]
            for s in point["statements"]
            if "pgext_outbox_stamp" in s["query"]
        )
        if calls > 0:
            xs.append(1 / calls)
            ys.append(_stamp_time(point) / calls)
    if len(xs) < 3:
        return {}
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if not sxx:
        return {}
    v = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    fixed = my - v * mx
    if v <= 0 or fixed < 0:
        return {}
    return {"F": fixed / 1e6, "v": v / 1e6}


def relay_cap(p: dict[str, float]) -> float:
    """Commits/s the serialised relay allows when its rounds grow with the
    rate (one round per RELAY_PERIOD at most): the relay is busy
    ``F / RELAY_PERIOD + X * v`` of the time, at most all of it."""
    if "F" in p and p["F"] < RELAY_PERIOD:
        return (1 - p["F"] / RELAY_PERIOD) / p["v"]
    return 1 / p["S"] if p["S"] else math.inf


def model(
    p: dict[str, float], n: int, cores: float, d: float, big: bool = False
) -> float:
    """``big``: on a server with cores to spare, where the relay's rounds
    grow with the rate (see relay_cap) instead of staying as measured."""
    limits = [n / p["R1"], cores / d]
    if "F" in p and big:
        limits.append(relay_cap(p))
    elif p["S"]:
        limits.append(1 / p["S"])
    return min(limits)


def bench_model(p: dict[str, float], n: int) -> float:
    """On the benchmark machine: its cores, and the writers' one Python
    process, which can use one core at most."""
    return min(model(p, n, p["C_eff"], p["D"]), 1 / p["D_client"])


def table(curve: dict[str, dict[int, dict[str, Any]]]) -> str:
    params = fit(curve)
    variants = [v for v in ("a", "b", "c", "c0") if v in curve]
    ns = sorted(curve["a"])
    lines = [
        f"C_eff (cores left to the benchmark, fitted on (a)): "
        f"{params['a']['C_eff']:.2f}",
        "",
        "| writers | " + " | ".join(f"{v} measured / model" for v in variants) + " |",
        "|---" * (1 + len(variants)) + "|",
    ]
    for n in ns:
        cells = []
        for v in variants:
            p = params[v]
            measured = curve[v].get(n, {}).get("commits_per_s", math.nan)
            predicted = bench_model(p, n)
            cells.append(f"{measured:,.0f} / {predicted:,.0f}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| variant | R1 us | CPU us/commit (all / server) | serial S us |"
        " 16 cores | 64 cores |",
        "|---|---|---|---|---|---|",
    ]
    for v in variants:
        p = params[v]
        serial = f"{p['S'] * 1e6:.1f}" if p["S"] else "none"
        big = [
            f"{model(p, 10_000, cores, p['D_server'], big=True):,.0f}"
            for cores in (16, 64)
        ]
        lines.append(
            f"| {v} | {p['R1'] * 1e6:.0f} | {p['D'] * 1e6:.0f} / "
            f"{p['D_server'] * 1e6:.0f} | {serial} | {big[0]} | {big[1]} |"
        )
    c = params.get("c", {})
    if "F" in c:
        lines += [
            "",
            f"Relay round fitted as F + v x messages: F = {c['F'] * 1e6:.0f} us, "
            f"v = {c['v'] * 1e6:.2f} us per message; with one round per "
            f"{RELAY_PERIOD * 1e3:.0f} ms at most, the relay allows "
            f"{relay_cap(c):,.0f} commits/s.",
        ]
    return "\n".join(lines)


def curve_table(
    curve: dict[str, dict[int, dict[str, Any]]],
    before: dict[str, dict[int, dict[str, Any]]] | None = None,
) -> str:
    """Commits/s per writer count, the ratios issue 15 asks for, and CPU
    per commit; with ``before``, (c) and its ratios from that run too."""
    variants = [v for v in ("a", "b", "c", "c0") if v in curve]
    head = "| writers | " + " | ".join(variants) + " | c/c0 | c/b |"
    if before:
        head += " c before | c/c0 before | c/b before |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]

    def rate(data: dict[str, dict[int, dict[str, Any]]], v: str, n: int) -> float:
        return float(data[v][n]["commits_per_s"])

    for n in sorted(curve["a"]):
        cells = [f"{rate(curve, v, n):,.0f}" for v in variants]
        cells += [
            f"{rate(curve, 'c', n) / rate(curve, 'c0', n):.2f}",
            f"{rate(curve, 'c', n) / rate(curve, 'b', n):.2f}",
        ]
        if before and n in before.get("c", {}):
            cells += [
                f"{rate(before, 'c', n):,.0f}",
                f"{rate(before, 'c', n) / rate(before, 'c0', n):.2f}",
                f"{rate(before, 'c', n) / rate(before, 'b', n):.2f}",
            ]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def breakdown(curve: dict[str, dict[int, dict[str, Any]]], writers: int) -> str:
    """Server time per commit by statement (pg_stat_statements, top
    level) and CPU per commit by process, at ``writers`` writers."""
    lines = [
        "| variant | statement | calls/commit | server us/commit |",
        "|---|---|---|---|",
    ]
    for v in ("a", "b", "c", "c0"):
        point = curve.get(v, {}).get(writers)
        if point is None:
            continue
        cpu = point["cpu_us_per_commit"]
        split = point.get("server_split_us_per_commit")
        server = f"server {cpu['server']:.0f}"
        if split:
            server += " (" + ", ".join(f"{k} {u:.0f}" for k, u in split.items()) + ")"
        lines.append(
            f"| {v} | CPU us/commit: client {cpu['client']:.0f}, subscriber "
            f"{cpu['subscriber']:.0f}, {server} | | |"
        )
        for st in point["statements"][:4]:
            query = st["query"][:90].replace("|", "\\|")
            lines.append(
                f"| | `{query}` | {st['calls_per_commit']:.3f} | "
                f"{st['us_per_commit']:.1f} |"
            )
    return "\n".join(lines)


def extra(curve: dict[str, dict[int, dict[str, Any]]], writers: int) -> str:
    """(c)'s CPU per commit over (c0)'s, by part, at ``writers`` writers:
    what delivering costs on top of writing the outbox row."""
    c, c0 = curve["c"][writers], curve["c0"][writers]
    rows = [("client (writers' process)", "client"), ("subscriber", "subscriber")]
    lines = ["| part | (c) | (c0) | (c) - (c0) |", "|---|---|---|---|"]
    for label, key in rows:
        a, b = c["cpu_us_per_commit"][key], c0["cpu_us_per_commit"][key]
        lines.append(f"| {label} | {a:.1f} | {b:.1f} | {a - b:+.1f} |")
    split, split0 = (p.get("server_split_us_per_commit") or {} for p in (c, c0))
    for key in split:
        a, b = split[key], split0.get(key, 0.0)
        lines.append(f"| server: {key} | {a:.1f} | {b:.1f} | {a - b:+.1f} |")
    total = sum(c["cpu_us_per_commit"].values())
    total0 = sum(c0["cpu_us_per_commit"].values())
    lines.append(f"| **all** | {total:.1f} | {total0:.1f} | {total - total0:+.1f} |")
    lines.append("")
    lines.append(
        f"CPU bound on shared cores: (c)/(c0) <= {total0:.0f} / {total:.0f} = "
        f"{total0 / total:.2f}"
    )
    return "\n".join(lines)


def svg(curve: dict[str, dict[int, dict[str, Any]]], width: int = 640) -> str:
    """Measured commits/s (solid, dots) and the model (dashed) against
    writers on a log2 axis."""
    params = fit(curve)
    height, left, bottom, top_pad, right = 360, 70, 40, 20, 150
    ns = sorted(curve["a"])
    peak = max(s["commits_per_s"] for pts in curve.values() for s in pts.values())
    ymax = peak * 1.15

    def x(n: float) -> float:
        span = math.log2(ns[-1]) - math.log2(ns[0]) or 1
        return left + (math.log2(n) - math.log2(ns[0])) / span * (width - left - right)

    def y(v: float) -> float:
        return height - bottom - v / ymax * (height - bottom - top_pad)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<line x1="{left}" y1="{y(0)}" x2="{width - right}" y2="{y(0)}" '
        'stroke="black"/>',
        f'<line x1="{left}" y1="{y(0)}" x2="{left}" y2="{top_pad}" stroke="black"/>',
    ]
    for n in ns:
        parts.append(
            f'<text x="{x(n)}" y="{height - bottom + 16}" '
            f'text-anchor="middle">{n}</text>'
        )
    for step in range(6):
        value = ymax * step / 5
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4}" text-anchor="end">'
            f"{value / 1000:.0f}k</text>"
        )
    parts.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 4}" '
        'text-anchor="middle">writers</text>'
    )
    for row, (variant, points) in enumerate(sorted(curve.items())):
        colour = COLOURS.get(variant, "black")
        measured = " ".join(
            f"{x(n):.1f},{y(points[n]['commits_per_s']):.1f}" for n in sorted(points)
        )
        p = params[variant]
        predicted = " ".join(
            f"{x(n):.1f},{y(bench_model(p, n)):.1f}" for n in sorted(points)
        )
        parts.append(
            f'<polyline points="{measured}" fill="none" stroke="{colour}" '
            'stroke-width="2"/>'
        )
        parts.append(
            f'<polyline points="{predicted}" fill="none" stroke="{colour}" '
            'stroke-dasharray="5,4"/>'
        )
        for n in sorted(points):
            parts.append(
                f'<circle cx="{x(n):.1f}" cy="{y(points[n]["commits_per_s"]):.1f}" '
                f'r="3" fill="{colour}"/>'
            )
        ly = top_pad + 18 * row + 10
        parts.append(
            f'<line x1="{width - right + 12}" y1="{ly}" x2="{width - right + 36}" '
            f'y2="{ly}" stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(f'<text x="{width - right + 42}" y="{ly + 4}">({variant})</text>')
    ly = top_pad + 18 * len(curve) + 10
    parts.append(f'<text x="{width - right + 12}" y="{ly + 4}">dashed: model</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("--svg", type=Path)
    parser.add_argument("--before", type=Path, help="results of an earlier run")
    parser.add_argument(
        "--server",
        default="fsync off",
        choices=("fsync off", "durable"),
        help="which of the run's servers to model (the CPU-bound one by default)",
    )
    args = parser.parse_args(argv)
    curve = load_curve(args.results, args.server)
    before = load_curve(args.before, args.server) if args.before else None
    print(curve_table(curve, before), end="\n\n")
    print(breakdown(curve, max(curve["a"])), end="\n\n")
    if "c" in curve and "c0" in curve:
        print(extra(curve, max(curve["a"])), end="\n\n")
    print(table(curve))
    if args.svg:
        args.svg.write_text(svg(curve))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
