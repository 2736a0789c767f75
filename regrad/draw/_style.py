"""Colours, fonts and text metrics shared by every drawing format."""

__all__ = ["STYLE", "EDGE", "EDGE_COLOUR", "FONT_FAMILY", "ORIENTATIONS", "normalize_orientation",
           "text_width", "LEGEND"]

#: Per node kind: fill, stroke, text colour. Dark blue for leaves that
#: require grad, light blue for leaves that don't (variables and constants),
#: grey for results of operators, as in the original regrad's drawings;
#: orange for the neurons of the compact view.
STYLE = {
    "param": {"fill": "#1565C0", "stroke": "#0D47A1", "text": "#FFFFFF"},
    "const": {"fill": "#E3F2FD", "stroke": "#5C9BD6", "text": "#0D2B4E"},
    "op": {"fill": "#ECEFF1", "stroke": "#78909C", "text": "#263238"},
    "neuron": {"fill": "#FFF3E0", "stroke": "#E65100", "text": "#3E2723"},
}
#: What each kind means, for legends.
LEGEND = {
    "param": "variable, requires grad",
    "const": "variable or constant, no grad",
    "op": "operator result",
    "neuron": "neuron: weighted sum (weights, bias, relu folded in)",
}
EDGE_COLOUR = "#607D8B"
#: An edge's line (and arrowhead) in SVG.
EDGE = {"stroke": EDGE_COLOUR, "stroke-width": 1.4}
FONT_FAMILY = "Helvetica, Arial, 'Liberation Sans', sans-serif"

#: Orientations: where the inputs are relative to the results.
#: TB top to bottom, BT bottom to top, LR left to right, RL right to left;
#: TD is Mermaid's other name for TB.
ORIENTATIONS = ("TB", "BT", "LR", "RL")


def normalize_orientation(orientation):
    o = str(orientation).upper() if isinstance(orientation, str) else orientation
    if o == "TD":
        return "TB"
    if o not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of 'TB', 'BT', 'LR', 'RL' (or 'TD'), "
                         f"not {orientation!r}")
    return o


# Advance widths of Helvetica (and its metric twins Arial and Liberation
# Sans) for ASCII 32..126, in thousandths of an em.
_REGULAR = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584)
_BOLD = (
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584)


def text_width(text, size, bold=False):
    """The width in px of ``text`` at font size ``size``, with Helvetica
    metrics; characters outside ASCII count as a wide glyph."""
    table = _BOLD if bold else _REGULAR
    total = 0
    for ch in text:
        c = ord(ch)
        total += table[c - 32] if 32 <= c < 127 else 1000 if c > 0x2E80 else 650
    return total * size / 1000.0
