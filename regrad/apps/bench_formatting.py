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
    w = rep.work
    lines = []
    nodes = rep.settings.get("nodes")
    lines.append(f"regrad bench: one moons step = {w.describe()}"
                 + (f"; {nodes:,} graph nodes" if nodes else ""))
    clock = ("CPU time of this process" if rep.settings.get("clock", "cpu") == "cpu"
             else "wall-clock time")
    lines.append(f"{rep.settings['rounds']} interleaved rounds (order rotated each round, "
                 f">= {rep.settings['min_time']:g} s per contender per round); medians of "
                 f"{clock}")
    lines.append("")
    head = ("contender", "ms/step", "min-max over rounds", "vs pure", "bytes/node",
            "first step ms", "steps")
    table = [head]
    for r in rep.rows:
        if r["missing"]:
            table.append((r["label"], r["missing"], "", "", "", "", ""))
            continue
        if "ms" not in r:
            continue
        b = f"{r['bytes']:.1f}" if "bytes" in r else r.get("bytes_note", "n/a")
        table.append((r["label"], _fmt_ms(r["ms"] / 1e3),
                      f"{_fmt_ms(r['ms_min'] / 1e3)}-{_fmt_ms(r['ms_max'] / 1e3)}",
                      _fmt_ratio(r["speedup"]) if r.get("speedup") is not None else "-",
                      b, _fmt_first(r), str(r["steps"])))
    widths = [max(len(row[i]) for row in table if row[2] or i == 0) for i in range(len(head))]
    for i, row in enumerate(table):
        if not row[2] and i:      # a contender that did not run: its reason spans the row
            lines.append(f"{row[0]:<{widths[0]}}  {row[1]}")
            continue
        cells = [f"{row[0]:<{widths[0]}}"] + [f"{c:>{wd}}" for c, wd in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
        if i == 0:
            lines.append("  ".join("-" * wd for wd in widths))
    lines.append("")
    lines.append("ms/step: one whole step (build the loss graph, zero_grad, backward, SGD "
                 "update); plain floats: the forward pass only. vs pure: the pure engine's "
                 "time over this one, median of per-round ratios.")
    lines.append("first step: wall time from nothing to the first step done (building the "
                 "model, recording or compiling, the first step), once, untimed by rounds.")
    lines.append("bytes/node: tracemalloc over building the loss graph, divided by its nodes "
                 "(constants and leaves included); PyTorch's C++ allocations are invisible to "
                 "tracemalloc, so no number is given for it.")
    rounded = [f"{r['label']} {r['bytes_rounded']:.1f}" for r in rep.rows if "bytes_rounded" in r]
    if rounded:
        lines.append("with pymalloc's 16-byte block rounding: " + ", ".join(rounded) + ".")
    rss = [f"{r['label']} {r['bytes_rss']:.1f}" for r in rep.rows if "bytes_rss" in r]
    if rss:
        lines.append("by RSS (growth while 5 loss graphs are held, over their nodes): "
                     + ", ".join(rss) + ".")
    for n in rep.notes:
        lines.append("note: " + n)
    if rep.scaling:
        lines.append("")
        lines.append("build + backward + free, compiled engine: ns per node "
                     f"(median of {rep.settings['scaling_rounds']} interleaved rounds)")
        sizes = sorted({n for d in rep.scaling.values() for n in d})
        hdr = ["graph"] + [f"~10^{round(math.log10(n))}" if _is_pow10(n) else f"{n:,}"
                           for n in sizes]
        rows = [hdr]
        for shape, d in rep.scaling.items():
            cells = [_SHAPE_NAMES.get(shape, shape)]
            for n in sizes:
                if n in d:
                    nodes_n, t = d[n]
                    cells.append(f"{_median(t) / nodes_n * 1e9:.0f}")
                else:
                    cells.append("-")
            rows.append(cells)
        wd = [max(len(r[i]) for r in rows) for i in range(len(hdr))]
        for i, r in enumerate(rows):
            lines.append("  ".join([f"{r[0]:<{wd[0]}}"] +
                                   [f"{c:>{x}}" for c, x in zip(r[1:], wd[1:])]))
            if i == 0:
                lines.append("  ".join("-" * x for x in wd))
    lines.append("")
    lines.append("the project's speed goals (design goals, not a check of this installation):")
    tw = max(len(t["target"]) for t in rep.targets)
    sw_ = max(len(t["shown"]) for t in rep.targets)
    for t in rep.targets:
        extra = f" ({t['why']})" if t.get("why") else ""
        lines.append(f"  {t['target']:<{tw}}  {t['shown']:<{sw_}}  {_verdict(t)}{extra}")
    lines.append("")
    hw, sw = rep.machine
    lines.append(f"machine: {hw}")
    load = [rep.settings.get("load_start"), rep.settings.get("load_end")]
    lines.append(f"software: {sw}")
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
    return "\n".join(lines)


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
