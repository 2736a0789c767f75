"""The comparison report over time: ``python -m regrad bench --record`` appends
one line per run to a JSON-lines file kept in the repository
(``benchmarks/history.jsonl``), and ``python -m regrad bench --history`` draws
steps per second over those runs for each contender.

Absolute times depend on the machine and its load, so each line also keeps
the ratios measured within its run: to the pure engine (``vs_pure``) and to
PyTorch on batched tensors (``vs_torch``), the figures to compare across runs.
"""
import json
import math
import os
import statistics
import subprocess
import time

from regrad.draw._escape import xml_text as escape

DEFAULT_PATH = os.path.join("benchmarks", "history.jsonl")
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#393b79")


def _commit():
    """The checkout's short commit, with ``+`` when it has changes; None outside git."""
    try:
        run = dict(capture_output=True, text=True, timeout=10,
                   cwd=os.path.dirname(os.path.abspath(__file__)))
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **run)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def entry(report, commit=None):
    """One history line from a report's ``as_dict()``."""
    rows = {r["key"]: r for r in report["rows"] if r.get("ms")}
    pure, torch = rows.get("pure", {}).get("ms"), rows.get("torch-batched", {}).get("ms")
    return dict(
        commit=commit if commit is not None else _commit(),
        date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        machine=report["machine"], cpu_share=report["settings"].get("cpu_share"),
        rows={k: _row(r, pure, torch) for k, r in rows.items()},
        # what the docs quote besides the times (doc/make_performance.py)
        targets=[dict(target=t["target"], shown=t["shown"], holds=t["holds"])
                 for t in report.get("targets", ())],
        scaling={shape: {n: statistics.median(d["seconds"]) / d["nodes"] * 1e9
                        for n, d in sizes.items()}
                 for shape, sizes in report.get("scaling", {}).items()})


def _row(r, pure, torch):
    out = dict(ms=r["ms"], vs_pure=pure / r["ms"] if pure else None,
               vs_torch=torch / r["ms"] if torch else None)
    for key in ("label", "ms_min", "ms_max", "bytes", "first_step"):
        if r.get(key) is not None:
            out[key] = r[key]
    return out


def append(path, line):
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line, sort_keys=True) + "\n")


def load(path):
    """The runs recorded in ``path``, oldest first; ValueError naming a bad line."""
    runs = []
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                run = json.loads(text)
            except ValueError:
                raise ValueError(f"{path}, line {number}: not a history entry (not JSON)") \
                    from None
            problem = _problem(run)
            if problem:
                raise ValueError(f"{path}, line {number}: not a history entry ({problem})")
            runs.append(run)
    return runs


def _problem(run):
    """What is wrong with a line's entry, or None."""
    if not isinstance(run, dict) or not isinstance(run.get("rows"), dict):
        return "no rows object"
    if not isinstance(run.get("commit"), (str, type(None))):
        return f"commit {run.get('commit')!r} is not a string"
    for key, row in run["rows"].items():
        ms = row.get("ms") if isinstance(row, dict) else None
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not 0 < ms < math.inf:
            return f"row {key!r} has no time in ms > 0"
    return None


def table(runs):
    """Steps per second of each contender, a column per run, as text."""
    keys = sorted({k for run in runs for k in run["rows"]})
    head = ["contender"] + [run.get("commit") or "?" for run in runs]
    lines = [head]
    for k in keys:
        lines.append([k] + [f"{1e3 / run['rows'][k]['ms']:,.0f}" if k in run["rows"] else "-"
                            for run in runs])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(line, widths))) for line in lines)


def svg(runs, title="regrad bench: steps per second (log scale) over recorded runs"):
    """A line per contender: steps per second against the runs, in order."""
    keys = sorted({k for run in runs for k in run["rows"]})
    rates = [1e3 / run["rows"][k]["ms"] for run in runs for k in run["rows"]]
    lo, hi = math.floor(math.log10(min(rates))), math.ceil(math.log10(max(rates)))
    hi = max(hi, lo + 1)
    width, height, left, top, plot_w, plot_h = 860, 420, 70, 40, 560, 320
    step = plot_w / max(1, len(runs) - 1)

    def x(i):
        return left + (i * step if len(runs) > 1 else plot_w / 2)

    def y(rate):
        return top + plot_h * (hi - math.log10(rate)) / (hi - lo)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<text x="{left}" y="20" font-size="14">{escape(title)}</text>']
    for d in range(lo, hi + 1):
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(10 ** d):.1f}" '
                   f'y2="{y(10 ** d):.1f}" stroke="#ddd"/><text x="{left - 8}" '
                   f'y="{y(10 ** d) + 4:.1f}" text-anchor="end">{10 ** d:,}</text>')
    for i, run in enumerate(runs):
        out.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                   f'{escape(run.get("commit") or "?")}</text>')
    for n, k in enumerate(keys):
        colour = COLOURS[n % len(COLOURS)]
        points = [(x(i), y(1e3 / run["rows"][k]["ms"])) for i, run in enumerate(runs)
                  if k in run["rows"]]
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                   + " ".join(f"{a:.1f},{b:.1f}" for a, b in points) + '"/>')
        out.extend(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>'
                   for a, b in points)
        out.append(f'<rect x="{left + plot_w + 20}" y="{top + 18 * n}" width="12" height="12" '
                   f'fill="{colour}"/><text x="{left + plot_w + 38}" y="{top + 18 * n + 10}">'
                   f'{escape(k)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
