"""A report's bar chart: PNG with matplotlib, else SVG."""
import math
import os

from .bench_formatting import _fmt_ms, _fmt_ratio, _machine_lines, _target_lines


_COLORS = {"compiled": "#1f4e9a", "replay": "#3a7bd5", "pure": "#8fb3e8",
           "micrograd": "#c97b2a", "torch-scalar": "#d9534f", "torch-batched": "#a33",
           "floats": "#7a7a7a"}


def _bars(rep):
    return [r for r in rep.rows if "ms" in r]


def _picture_title(rep):
    nodes = rep.settings.get("nodes")
    sizes = ", ".join(map(str, rep.work.sizes))
    return (f"regrad bench: one moons step, MLP(2, [{sizes}]), {rep.work.samples} points"
            + (f", {nodes:,} nodes" if nodes else ""))


def _bar_text(r):
    text = f"{_fmt_ms(r['ms'] / 1e3)} ms"
    if r["key"] == "pure":
        text += "  (the baseline)"
    elif r.get("speedup") is not None and r["speedup"] >= 1:
        text += f"  ({_fmt_ratio(r['speedup'])} faster than pure)"
    elif r.get("speedup"):
        text += f"  ({_fmt_ratio(1 / r['speedup'])} slower than pure)"
    return text


def save_picture(rep, path):
    """Write the step table as a bar chart (log scale): PNG through matplotlib,
    SVG (or HTML around it) by hand."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".png":
        _save_png(rep, path)
        return
    svg = bench_svg(rep)
    if ext in (".html", ".htm"):
        from regrad.draw._escape import xml_text as escape
        text = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{escape(_picture_title(rep))}</title>\n</head>\n<body>\n{svg}\n"
                "</body>\n</html>\n")
    else:
        text = '<?xml version="1.0" encoding="UTF-8"?>\n' + svg
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _save_png(rep, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    bars = _bars(rep)
    n = max(1, len(bars))
    targets = ["the project's speed goals (not a check of this installation):"] + [
        "  " + t for t in _target_lines(rep)]
    # heights in inches: title block, bars, axis label, targets
    head, row, axis, line = 0.95, 0.42, 0.55, 0.19
    height = head + row * n + axis + line * len(targets) + 0.2
    fig = Figure(figsize=(10, height), dpi=110)
    FigureCanvasAgg(fig)
    bottom = (axis + line * len(targets) + 0.2) / height
    ax = fig.add_axes([0.24, bottom, 0.74, row * n / height])
    ys = list(range(len(bars)))[::-1]
    ms = [r["ms"] for r in bars]
    lo = [r["ms"] - r["ms_min"] for r in bars]
    hi = [r["ms_max"] - r["ms"] for r in bars]
    colors = [_COLORS.get(r["key"], "#555") for r in bars]
    ax.barh(ys, ms, color=colors, height=0.64, xerr=[lo, hi],
            error_kw=dict(ecolor="#333", lw=0.8, capsize=2))
    ax.set_xscale("log")
    left = math.log10(min(r["ms_min"] for r in bars) / 2.5)
    right = math.log10(max(r["ms_max"] for r in bars))
    ax.set_xlim(10 ** left, 10 ** (right + 0.6 * max(right - left, 1.0)))   # room for text
    ax.set_ylim(-0.6, len(bars) - 0.4)
    ax.xaxis.set_major_locator(FixedLocator(
        [10.0 ** e for e in range(math.floor(left), math.ceil(right) + 1)]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(ys)
    ax.set_yticklabels([r["label"] for r in bars])
    for y, r in zip(ys, bars):
        ax.text(r["ms_max"] * 1.12, y, _bar_text(r), va="center", fontsize=9)
    clock = "CPU time" if rep.settings.get("clock", "cpu") == "cpu" else "wall-clock time"
    ax.set_xlabel(f"milliseconds per step, log scale ({clock}; bar: median over "
                  f"{rep.settings['rounds']} interleaved rounds, whiskers: min-max)",
                  fontsize=9)
    ax.grid(axis="x", which="major", color="#ddd", lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    top = 1 - 0.12 / height
    fig.text(0.5, top, _picture_title(rep), ha="center", va="top", fontsize=11.5)
    fig.text(0.5, top - 0.3 / height, "\n".join(_machine_lines(rep)), ha="center", va="top",
             fontsize=7.5, color="#555")
    fig.text(0.03, 0.12 / height, "\n".join(targets), ha="left", va="bottom",
             fontsize=8.5, family="monospace", color="#222", linespacing=1.35)
    fig.savefig(path)


def bench_svg(rep):
    """The bar chart as a self-contained SVG string (no dependency)."""
    from regrad.draw._escape import xml_text as escape
    bars = _bars(rep)
    width, label_w, row_h = 900, 210, 30
    top = 78
    plot_w = width - label_w - 250
    height = top + row_h * max(1, len(bars)) + 60 + 16 * len(rep.targets)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">'
             f'{escape(_picture_title(rep))}</text>']
    hw, sw = _machine_lines(rep)
    parts.append(f'<text x="{width / 2}" y="38" text-anchor="middle" font-size="10" '
                 f'fill="#555">{escape(hw)}</text>')
    parts.append(f'<text x="{width / 2}" y="52" text-anchor="middle" font-size="10" '
                 f'fill="#555">{escape(sw)}</text>')
    if bars:
        lo = math.floor(math.log10(min(r["ms"] for r in bars) / 2))
        hi = math.ceil(math.log10(max(r["ms_max"] for r in bars) * 1.01))
        hi = max(hi, lo + 1)

        def x_of(ms):
            return label_w + (math.log10(ms) - lo) / (hi - lo) * plot_w

        bottom = top + row_h * len(bars)
        for e in range(lo, hi + 1):
            x = x_of(10.0 ** e)
            parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" '
                         'stroke="#ddd"/>')
            label = f"{10.0 ** e:g}"
            parts.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" '
                         f'font-size="10">{label}</text>')
        parts.append(f'<text x="{label_w + plot_w / 2}" y="{bottom + 30}" '
                     'text-anchor="middle" font-size="11">milliseconds per step (log scale; '
                     'bars: median over rounds, whiskers: min-max)</text>')
        for i, r in enumerate(bars):
            y = top + i * row_h
            x0, x1 = label_w, x_of(r["ms"])
            color = _COLORS.get(r["key"], "#555")
            parts.append(f'<text x="{label_w - 8}" y="{y + row_h / 2 + 4}" '
                         f'text-anchor="end">{escape(r["label"])}</text>')
            parts.append(f'<rect x="{x0}" y="{y + 5}" width="{max(1.0, x1 - x0):.1f}" '
                         f'height="{row_h - 10}" fill="{color}"/>')
            a, b = x_of(r["ms_min"]), x_of(r["ms_max"])
            parts.append(f'<line x1="{a:.1f}" y1="{y + row_h / 2}" x2="{b:.1f}" '
                         f'y2="{y + row_h / 2}" stroke="#333"/>')
            parts.append(f'<text x="{b + 6:.1f}" y="{y + row_h / 2 + 4}">'
                         f'{escape(_bar_text(r))}</text>')
        ty = bottom + 52
    else:
        ty = top + 20
    for i, line in enumerate(["the project's speed goals (not a check of this installation):"]
                             + _target_lines(rep)):
        parts.append(f'<text x="12" y="{ty + 16 * i}" font-family="monospace" '
                     f'font-size="11">{escape(line)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
