"""A report as text and as Markdown."""
import math

from .bench_measuring import _median


def _fmt_ms(seconds):
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def _fmt_ratio(x):
    if x is None or math.isnan(x):
        return "-"
    return f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def format_report(rep):
    """The report as text: the step table, notes, scaling, targets, machine."""
    w, nodes = rep.work, rep.settings.get("nodes")
    clock = ("CPU time of this process" if rep.settings.get("clock", "cpu") == "cpu"
             else "wall-clock time")
    lines = [f"regrad bench: one moons step = {w.describe()}"
             + (f"; {nodes:,} graph nodes" if nodes else ""),
             f"{rep.settings['rounds']} interleaved rounds (order rotated each round, "
             f">= {rep.settings['min_time']:g} s per contender per round); medians of {clock}",
             ""]
    lines += _aligned(_step_table(rep.rows))
    lines += [""] + _step_notes(rep)
    if rep.scaling:
        lines.append("")
        lines.append("build + backward + free, compiled engine: ns per node "
                     f"(median of {rep.settings['scaling_rounds']} interleaved rounds)")
        lines += _aligned(_scaling_table(rep.scaling))
    lines.append("")
    lines.append("the project's speed goals (design goals, not a check of this installation):")
    tw = max(len(t["target"]) for t in rep.targets)
    sw_ = max(len(t["shown"]) for t in rep.targets)
    for t in rep.targets:
        extra = f" ({t['why']})" if t.get("why") else ""
        lines.append(f"  {t['target']:<{tw}}  {t['shown']:<{sw_}}  {_verdict(t)}{extra}")
    lines.append("")
    return "\n".join(lines + _machine(rep))


def _aligned(table):
    """A table's lines: the first column to the left, the others to the right,
    a rule under the head; a shorter row (a contender that did not run and why)
    spans the others."""
    n = len(table[0])
    widths = [max(len(row[i]) for row in table if len(row) == n or i == 0) for i in range(n)]
    lines = []
    for i, row in enumerate(table):
        if len(row) < n:
            lines.append(f"{row[0]:<{widths[0]}}  {row[1]}")
            continue
        cells = [f"{row[0]:<{widths[0]}}"] + [f"{c:>{wd}}" for c, wd in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
        if i == 0:
            lines.append("  ".join("-" * wd for wd in widths))
    return lines


def _step_table(rows):
    table = [("contender", "ms/step", "min-max over rounds", "vs pure", "bytes/node",
              "first step ms", "steps")]
    for r in rows:
        if r["missing"]:
            table.append((r["label"], r["missing"]))
        elif "ms" in r:
            b = f"{r['bytes']:.1f}" if "bytes" in r else r.get("bytes_note", "n/a")
            table.append((r["label"], _fmt_ms(r["ms"] / 1e3),
                          f"{_fmt_ms(r['ms_min'] / 1e3)}-{_fmt_ms(r['ms_max'] / 1e3)}",
                          _fmt_ratio(r["speedup"]) if r.get("speedup") is not None else "-",
                          b, _fmt_first(r), str(r["steps"])))
    return table


def _step_notes(rep):
    """What the step table's columns mean, the other byte counts, the run's notes."""
    lines = ["ms/step: one whole step (build the loss graph, zero_grad, backward, SGD "
             "update); plain floats: the forward pass only. vs pure: the pure engine's "
             "time over this one, median of per-round ratios.",
             "first step: wall time from nothing to the first step done (building the "
             "model, recording or compiling, the first step), once, untimed by rounds.",
             "bytes/node: tracemalloc over building the loss graph, divided by its nodes "
             "(constants and leaves included); PyTorch's C++ allocations are invisible to "
             "tracemalloc, so no number is given for it."]
    rounded = [f"{r['label']} {r['bytes_rounded']:.1f}" for r in rep.rows if "bytes_rounded" in r]
    if rounded:
        lines.append("with pymalloc's 16-byte block rounding: " + ", ".join(rounded) + ".")
    rss = [f"{r['label']} {r['bytes_rss']:.1f}" for r in rep.rows if "bytes_rss" in r]
    if rss:
        lines.append("by RSS (growth while 5 loss graphs are held, over their nodes): "
                     + ", ".join(rss) + ".")
    return lines + ["note: " + n for n in rep.notes]


def _scaling_table(scaling):
    sizes = sorted({n for d in scaling.values() for n in d})
    table = [["graph"] + [f"~10^{round(math.log10(n))}" if _is_pow10(n) else f"{n:,}"
                          for n in sizes]]
    for shape, d in scaling.items():
        table.append([_SHAPE_NAMES.get(shape, shape)]
                     + [f"{_median(d[n][1]) / d[n][0] * 1e9:.0f}" if n in d else "-"
                        for n in sizes])
    return table


def _machine(rep):
    """The machine, the software, and how busy the machine was."""
    hw, sw = rep.machine
    lines = [f"machine: {hw}", f"software: {sw}"]
    load = [rep.settings.get("load_start"), rep.settings.get("load_end")]
    busy = []
    if None not in load:
        busy.append(f"load average {load[0]:.2f} at start, {load[1]:.2f} at end")
    share = rep.settings.get("cpu_share")
    if share is not None and not math.isnan(share):
        busy.append(f"the timed code got {min(share, 1.0):.0%} of a core "
                    "(CPU time / wall time)")
    if busy:
        lines.append("busy: " + "; ".join(busy))
    if share is not None and share < 0.9:
        lines.append("(other processes were using the cores: CPU times still rise with the "
                     "contention for caches; compare ratios, and rerun with more --rounds)")
    return lines


def format_markdown(rep):
    """The step table, the targets and the machine as Markdown (for a README)."""
    lines = ["| contender | ms/step | min-max over rounds | vs pure | bytes/node "
             "| first step, ms |", "|---|--:|--:|--:|--:|--:|"]
    for r in rep.rows:
        if r["missing"]:
            lines.append(f"| {r['label']} | {r['missing']} | | | | |")
        elif "ms" in r:
            b = f"{r['bytes']:.1f}" if "bytes" in r else r.get("bytes_note", "n/a")
            sp = _fmt_ratio(r["speedup"]) if r.get("speedup") is not None else "-"
            lines.append(f"| {r['label']} | {_fmt_ms(r['ms'] / 1e3)} | "
                         f"{_fmt_ms(r['ms_min'] / 1e3)}-{_fmt_ms(r['ms_max'] / 1e3)} | "
                         f"{sp} | {b} | {_fmt_first(r)} |")
    lines += ["", "| the project's speed goal | this run | |", "|---|---|---|"]
    for t in rep.targets:
        lines.append(f"| {t['target']} | {t['shown']} | {_verdict(t)} |")
    if rep.scaling:
        sizes = sorted({n for d in rep.scaling.values() for n in d})
        lines += ["", "| build + backward + free, ns per node | "
                  + " | ".join(f"~10^{round(math.log10(n))} nodes" if _is_pow10(n)
                               else f"~{n:,} nodes" for n in sizes) + " |",
                  "|---|" + "--:|" * len(sizes)]
        for shape, d in rep.scaling.items():
            cells = [f"{_median(d[n][1]) / d[n][0] * 1e9:.0f}" if n in d else "-"
                     for n in sizes]
            lines.append(f"| {_SHAPE_NAMES.get(shape, shape)} | " + " | ".join(cells) + " |")
    hw, sw = _machine_lines(rep)
    lines += ["", f"Machine: {hw}; {sw}."]
    return "\n".join(lines)


def _fmt_first(row):
    t = row.get("first_step")
    return "-" if t is None else _fmt_ms(t)


_SHAPE_NAMES = {"chain": "chain (y = y*w + b)", "sum": "wide sum(xs)", "mlp": "MLP moons loss"}


def _is_pow10(n):
    return n > 0 and 10 ** round(math.log10(n)) == n


def _verdict(t):
    return "not measured" if t["holds"] is None else "met" if t["holds"] else "not met yet"


def _target_lines(rep):
    return [f"{t['target']}: {t['shown']}, {_verdict(t)}" for t in rep.targets]


def _machine_lines(rep):
    hw, sw = rep.machine
    share = rep.settings.get("cpu_share")
    if share is not None and not math.isnan(share):
        sw += f"; the timed code got {min(share, 1.0):.0%} of a core"
    return [hw, sw]
