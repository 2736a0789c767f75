"""The moons job's picture: the decision boundary with the data, and the loss curve.

PNG through matplotlib when it is installed (``pip install 'regrad[plot]'``);
otherwise a self-contained SVG, or an HTML page with that SVG inline, written
by hand with no dependency. The format follows the file name's extension.
"""
import math
import os

from regrad.draw._escape import xml_text as escape

from .args import check_writable
from .floats import predict, weights

__all__ = ["FORMATS", "have_matplotlib", "picture_path", "decision_grid", "save_moons_picture"]

FORMATS = (".png", ".svg", ".html", ".htm")

# class -1 red, class +1 blue (light shades for the regions, dark for the points)
_RED, _BLUE = (178, 24, 43), (33, 102, 172)
_RED_PT, _BLUE_PT = "#d6604d", "#4393c3"
_LOSS, _ACC = "#222222", "#1b7837"


def have_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def picture_path(out, stem):
    """Where to write the picture: ``out`` checked, or ``stem.png`` (``.svg``
    without matplotlib) when ``out`` is None or a directory. Raises ValueError
    with a message for the user when ``out`` cannot be used."""
    if out is None or os.path.isdir(out):
        name = stem + (".png" if have_matplotlib() else ".svg")
        path = name if out is None else os.path.join(out, name)
        check_writable(path, "a picture")
        return path
    if out.endswith(os.sep) or (os.altsep and out.endswith(os.altsep)):
        raise ValueError(f"cannot write a picture into {out!r}: no directory "
                         f"{os.path.abspath(out)}")
    check_writable(out, "a picture")
    ext = os.path.splitext(out)[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"cannot write a picture to {out!r}: the name must end in "
                         ".png, .svg or .html")
    if ext == ".png" and not have_matplotlib():
        raise ValueError("a PNG picture needs matplotlib (pip install 'regrad[plot]'); "
                         f"give an .svg or .html path instead of {out!r}")
    return out


# ------------------------------------------------------------------ the grid

def _bounds(X, margin=0.6):
    xs = [p[0] for p in X]
    ys = [p[1] for p in X]
    return (min(xs) - margin, max(xs) + margin, min(ys) - margin, max(ys) + margin)


def decision_grid(model, X, nx=120):
    """The model's scores on a grid covering the data: ``(xs, ys, rows)`` with
    ``rows[j][i]`` the score at ``(xs[i], ys[j])``, cells of equal width and
    height. Uses numpy when it is installed (faster; the same numbers up to
    rounding), plain floats otherwise."""
    x0, x1, y0, y1 = _bounds(X)
    h = (x1 - x0) / nx
    ny = max(2, round((y1 - y0) / h))
    xs = [x0 + (i + 0.5) * h for i in range(nx)]
    ys = [y0 + (j + 0.5) * (y1 - y0) / ny for j in range(ny)]
    try:
        import numpy as np
    except ImportError:
        scores = predict(model, [(x, y) for y in ys for x in xs])
        return xs, ys, [scores[j * nx:(j + 1) * nx] for j in range(ny)]
    gx, gy = np.meshgrid(np.array(xs), np.array(ys))
    H = np.stack([gx.ravel(), gy.ravel()], axis=1)
    for layer in weights(model):
        W = np.array([w for w, _, _ in layer], dtype=float)
        b = np.array([b for _, b, _ in layer], dtype=float)
        H = H @ W.T + b
        if layer[0][2]:
            H = np.maximum(H, 0.0)
    return xs, ys, H[:, 0].reshape(len(ys), len(xs)).tolist()


def _curve(history):
    """``[(epoch, loss, accuracy), ...]`` from EpochStats or (loss, accuracy) pairs."""
    points = []
    for i, h in enumerate(history or ()):
        if hasattr(h, "loss"):
            points.append((h.epoch + 1, h.loss, h.accuracy))
        else:
            loss, acc = h
            points.append((i + 1, loss, acc))
    return points


def save_moons_picture(path, model, X, y, history, title=None):
    """Write the picture of a trained ``model`` on ``(X, y)`` to ``path``
    (.png, .svg or .html): the decision boundary with the points, and the
    training curves from ``history``, a list of ``EpochStats`` (what
    ``regrad.apps.moons.train`` returns) or of ``(loss, accuracy)`` pairs."""
    ext = os.path.splitext(path)[1].lower()
    title = title or "regrad: two moons"
    history = _curve(history)
    if ext == ".png":
        _save_png(path, model, X, y, history, title)
        return
    svg = moons_svg(model, X, y, history, title)
    if ext in (".html", ".htm"):
        text = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{escape(title)}</title>\n"
                "<style>body{font-family:sans-serif;margin:2em;color:#222}</style>\n"
                f"</head>\n<body>\n<h1>regrad: two moons</h1>\n{svg}\n</body>\n</html>\n")
    elif ext == ".svg":
        text = '<?xml version="1.0" encoding="UTF-8"?>\n' + svg
    else:
        raise ValueError(f"unknown picture format {ext!r}: use .png, .svg or .html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# ---------------------------------------------------------------- matplotlib

def _save_png(path, model, X, y, history, title):
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    xs, ys, rows = decision_grid(model, X, nx=300)
    Z = np.array(rows)
    fig = Figure(figsize=(11, 4.6), dpi=110)
    FigureCanvasAgg(fig)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    dx, dy = xs[1] - xs[0], ys[1] - ys[0]
    extent = (xs[0] - dx / 2, xs[-1] + dx / 2, ys[0] - dy / 2, ys[-1] + dy / 2)
    ax.imshow(Z, extent=extent, origin="lower", cmap="RdBu", vmin=-3, vmax=3, alpha=0.65,
              interpolation="bilinear")
    ax.contour(xs, ys, Z, levels=[0.0], colors="k", linewidths=1.2)
    for label, color in ((-1, _RED_PT), (1, _BLUE_PT)):
        pts = [p for p, yi in zip(X, y) if yi == label]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=28, c=color,
                   edgecolors="k", linewidths=0.6, label=f"y = {label:+d}")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal")
    ax.set_title("decision boundary (score = 0)")
    ax.legend(loc="upper right", fontsize=8)

    epochs = [e for e, _, _ in history]
    ax2.plot(epochs, [loss for _, loss, _ in history], color=_LOSS, label="loss")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("loss")
    ax2.set_ylim(bottom=0)
    ax2.set_title("training")
    acc = ax2.twinx()
    acc.plot(epochs, [100 * a for _, _, a in history], color=_ACC, linestyle="--",
             label="accuracy")
    acc.set_ylabel("accuracy (%)", color=_ACC)
    acc.set_ylim(0, 102)
    lines = ax2.get_lines() + acc.get_lines()
    ax2.legend(lines, [line.get_label() for line in lines], loc="center right", fontsize=8)
    fig.suptitle(title)
    # fixed margins: tight_layout would measure every tick label first, slower than the drawing
    fig.subplots_adjust(left=0.055, right=0.93, bottom=0.11, top=0.86, wspace=0.22)
    fig.savefig(path)


# ----------------------------------------------------------- SVG by hand

def _mix(rgb, t):
    """``rgb`` faded towards white: t = 0 white, t = 1 the color."""
    return "#%02x%02x%02x" % tuple(round(255 + (c - 255) * t) for c in rgb)


def _shade(score):
    """Region color for a score: 8 bands over [-2, 2], the middle edge at 0."""
    if math.isnan(score):
        return "#dddddd"
    band = min(3, int(min(abs(score), 2.0) / 0.5))   # 0..3 away from the boundary
    return _mix(_BLUE if score > 0 else _RED, 0.22 + 0.13 * band)


def _nice_ticks(hi, count=5):
    """Round tick values from 0 to at least ``hi``."""
    if not hi > 0:
        hi = 1.0
    raw = hi / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(hi / step - 1e-9)
    return [i * step for i in range(n + 1)]


def _fmt_tick(v):
    return f"{v:g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.0e}"


def _zero_contour(xs, ys, rows, px, py):
    """Segments of the score = 0 line by marching squares, as SVG path data."""
    parts = []
    for j in range(len(ys) - 1):
        r0, r1 = rows[j], rows[j + 1]
        for i in range(len(xs) - 1):
            corners = ((xs[i], ys[j], r0[i]), (xs[i + 1], ys[j], r0[i + 1]),
                       (xs[i + 1], ys[j + 1], r1[i + 1]), (xs[i], ys[j + 1], r1[i]))
            cuts = []
            for k in range(4):
                (xa, ya, a), (xb, yb, b) = corners[k], corners[(k + 1) % 4]
                if (a > 0) != (b > 0) and math.isfinite(a) and math.isfinite(b):
                    t = a / (a - b)
                    cuts.append((xa + t * (xb - xa), ya + t * (yb - ya)))
            for m in range(0, len(cuts) - 1, 2):
                (xa, ya), (xb, yb) = cuts[m], cuts[m + 1]
                parts.append(f"M{px(xa):.1f} {py(ya):.1f}L{px(xb):.1f} {py(yb):.1f}")
    return "".join(parts)


def moons_svg(model, X, y, history, title):
    """The picture as an SVG document (a string)."""
    at = _Panels(_bounds(X))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{at.width:.0f}" '
           f'height="{at.height:.0f}" viewBox="0 0 {at.width:.0f} {at.height:.0f}" '
           'font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{at.width:.0f}" height="{at.height:.0f}" fill="#ffffff"/>',
           f'<text x="{at.width / 2:.0f}" y="24" font-size="15" text-anchor="middle">'
           f'{escape(title)}</text>']
    out += _boundary_panel(at, decision_grid(model, X, nx=120), X, y)
    out += _training_panel(at, history)
    out.append("</svg>")
    return "\n".join(out) + "\n"


class _Panels:
    """Where things stand: the boundary panel on the left (equal aspect), the
    training panel of the same height on the right, a legend line below both."""
    left, top, W1, W2 = 40.0, 60.0, 440.0, 330.0

    def __init__(self, bounds):
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1 = bounds
        self.H = min(400.0, self.W1 * (y1 - y0) / (x1 - x0))
        self.L2 = self.left + self.W1 + 90.0
        self.width, self.height = self.L2 + self.W2 + 60.0, self.top + self.H + 72.0
        self.legend_y = self.top + self.H + 58

    def px(self, x):
        return self.left + (x - self.x0) / (self.x1 - self.x0) * self.W1

    def py(self, v):
        return self.top + (self.y1 - v) / (self.y1 - self.y0) * self.H


def _boundary_panel(at, grid, X, y):
    """The regions shaded by score, the score = 0 line, the points, the axes and
    the legend of the two classes."""
    xs, ys, rows = grid
    left, top, W1, H1, px, py = at.left, at.top, at.W1, at.H, at.px, at.py
    out = [f'<text x="{left + W1 / 2:.0f}" y="{top - 10:.0f}" text-anchor="middle">'
           'decision boundary (score = 0)</text>']
    cw = W1 / len(xs)
    ch = H1 / len(ys)
    out.append('<g shape-rendering="crispEdges">')
    for j, row in enumerate(rows):   # each grid row as runs of one shade
        yt = top + (len(ys) - 1 - j) * ch
        i = 0
        while i < len(row):
            color = _shade(row[i])
            k = i + 1
            while k < len(row) and _shade(row[k]) == color:
                k += 1
            out.append(f'<rect x="{left + i * cw:.1f}" y="{yt:.1f}" width="{(k - i) * cw + 0.3:.1f}" '
                       f'height="{ch + 0.3:.1f}" fill="{color}"/>')
            i = k
    out.append("</g>")
    out.append(f'<path d="{_zero_contour(xs, ys, rows, px, py)}" fill="none" '
               'stroke="#000000" stroke-width="1.4"/>')
    for (a, b), label in zip(X, y):
        color = _BLUE_PT if label > 0 else _RED_PT
        out.append(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3.6" fill="{color}" '
                   'stroke="#000000" stroke-width="0.7"/>')
    out.append(f'<rect x="{left}" y="{top}" width="{W1}" height="{H1:.1f}" fill="none" '
               'stroke="#444444"/>')
    for v in range(math.ceil(at.x0), math.floor(at.x1) + 1):
        out.append(f'<text x="{px(v):.1f}" y="{top + H1 + 15:.1f}" text-anchor="middle" '
                   f'fill="#444444">{v}</text>')
    for v in range(math.ceil(at.y0), math.floor(at.y1) + 1):
        out.append(f'<text x="{left - 6}" y="{py(v) + 4:.1f}" text-anchor="end" '
                   f'fill="#444444">{v}</text>')
    ly = at.legend_y
    for k, (label, color) in enumerate(((-1, _RED_PT), (1, _BLUE_PT))):
        lx = left + k * 80
        out.append(f'<circle cx="{lx + 5}" cy="{ly - 4}" r="4" fill="{color}" '
                   'stroke="#000000" stroke-width="0.7"/>')
        out.append(f'<text x="{lx + 14}" y="{ly}">y = {label:+d}</text>')
    return out


def _training_panel(at, history):
    """The loss (left axis, clipped to its box so a diverged run stays in it) and
    the accuracy (right axis, dashed) by epoch, with their legend."""
    L2, W2, H2, top = at.L2, at.W2, at.H, at.top
    n = history[-1][0] if history else 1
    finite = [loss for _, loss, _ in history if math.isfinite(loss)]
    ticks = _nice_ticks(max(finite) if finite else 1.0)
    ymax = ticks[-1]

    def qx(epoch):
        return L2 + (epoch - 1) / max(1, n - 1) * W2

    def qy(v):
        v = ymax if math.isnan(v) else min(max(v, 0.0), ymax)
        return top + H2 - v / ymax * H2

    out = [f'<text x="{L2 + W2 / 2:.0f}" y="{top - 10:.0f}" text-anchor="middle">training</text>']
    for t in ticks:
        out.append(f'<line x1="{L2}" x2="{L2 + W2}" y1="{qy(t):.1f}" y2="{qy(t):.1f}" '
                   'stroke="#e5e5e5"/>')
        out.append(f'<text x="{L2 - 6}" y="{qy(t) + 4:.1f}" text-anchor="end" '
                   f'fill="#444444">{_fmt_tick(t)}</text>')
    for p in (0, 25, 50, 75, 100):
        out.append(f'<text x="{L2 + W2 + 6}" y="{top + H2 - p / 100 * H2 + 4:.1f}" '
                   f'fill="{_ACC}">{p}%</text>')
    ticks = [max(1, t) for t in _nice_ticks(n, 4) if t <= n]
    if n - ticks[-1] > 0.3 * (ticks[-1] - ticks[0]):
        ticks.append(n)
    for e in ticks:
        out.append(f'<text x="{qx(e):.1f}" y="{top + H2 + 15:.1f}" text-anchor="middle" '
                   f'fill="#444444">{e:g}</text>')
    out.append(f'<rect x="{L2}" y="{top}" width="{W2}" height="{H2:.1f}" fill="none" '
               'stroke="#444444"/>')
    if history:
        pts = " ".join(f"{qx(e):.1f},{qy(loss):.1f}" for e, loss, _ in history)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{_LOSS}" stroke-width="1.6"/>')
        pts = " ".join(f"{qx(e):.1f},{top + H2 - a * H2:.1f}" for e, _, a in history)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{_ACC}" stroke-width="1.4" '
                   'stroke-dasharray="5 3"/>')
    out.append(f'<text x="{L2 + W2 / 2:.0f}" y="{top + H2 + 32:.0f}" text-anchor="middle" '
               'fill="#444444">epoch</text>')
    out.append(f'<text x="{L2 - 36}" y="{top + H2 / 2:.0f}" text-anchor="middle" fill="#444444" '
               f'transform="rotate(-90 {L2 - 36} {top + H2 / 2:.0f})">loss</text>')
    lx, ly = L2 + W2 / 2 - 90, at.legend_y
    out.append(f'<line x1="{lx}" x2="{lx + 22}" y1="{ly - 4}" y2="{ly - 4}" '
               f'stroke="{_LOSS}" stroke-width="1.6"/>')
    out.append(f'<text x="{lx + 27}" y="{ly}">loss</text>')
    out.append(f'<line x1="{lx + 80}" x2="{lx + 102}" y1="{ly - 4}" y2="{ly - 4}" '
               f'stroke="{_ACC}" stroke-width="1.4" stroke-dasharray="5 3"/>')
    out.append(f'<text x="{lx + 107}" y="{ly}" fill="{_ACC}">accuracy</text>')
    return out
