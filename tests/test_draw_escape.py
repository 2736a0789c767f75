"""Hostile labels on both engines' Vars, in every view and every output syntax:
SVG (full, compact, the steps, captioned), HTML pages, Mermaid, DOT and the
steps' Markdown table. Each output must stay well-formed and show the label
as text, never as markup."""
import html
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from regrad.draw import build_dot, build_mermaid_script, build_svg, draw, draw_backward
from regrad.draw._escape import printable

HOSTILE = ["\x1b[31mred\x1b[0m", "form\x0cfeed\x00nul", "#lt;img src=x onerror=alert(1)#gt;",
           "a | b || c", "<b>bold</b> & <script>x</script>", "lone \ud800 surrogate",
           "back\\slash `code` *em* _u_ [l](u) \\|", 'q"uote\'s', "tab\tnew\nline\r",
           "c1 \x85\x9f del \x7f", "]]> --> &amp; #35;"]

# what XML 1.0 allows in a document
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def hostile_graph(engine):
    """A neuron (the compact view draws it as one node) and more, every Var
    with a hostile label."""
    Var = engine.Var
    labels = iter(HOSTILE * 3)
    x1, x2 = Var(0.5, label=next(labels)), Var(-1.5, label=next(labels))
    w1 = Var(0.3, req_grad=True, label=next(labels))
    w2 = Var(-0.7, req_grad=True, label=next(labels))
    b = Var(0.1, req_grad=True, label=next(labels))
    s = w1 * x1 + w2 * x2 + b
    y = s.tanh()
    y.label = next(labels)
    z = y * y + w1
    z.label = next(labels)
    return z


def _svgs_of(engine):
    root = hostile_graph(engine)
    steps = draw_backward(root)
    out = {"full": build_svg(root), "compact": build_svg(root, view="compact")}
    out.update({f"step {k}": svg for k, svg in enumerate(steps.svgs)})
    out.update({f"captioned {k}": steps.captioned(k) for k in range(len(steps.svgs))})
    return out


def _texts(element):
    return "\n".join(t for t in element.itertext())


def test_every_svg_is_xml_and_shows_the_labels(engine):
    for view, svg in _svgs_of(engine).items():
        assert not _NOT_XML.search(svg), view
        svg.encode("utf-8")
        root = ET.fromstring(svg)                  # well-formed
        tags = {el.tag.split("}")[1] for el in root.iter()}
        assert tags <= {"svg", "title", "g", "path", "polygon", "rect", "text"}, (view, tags)
        text = _texts(root)
        shown = [h for h in HOSTILE if printable(h) in text]
        assert len(shown) >= 3, view               # the labels are there, as text
        assert "\x1b" not in text and "\u241b[31mred" in text, view   # ESC as its picture


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(k for k, _ in attrs)

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.parametrize("page", ["drawing", "steps"])
def test_pages_are_valid_and_show_the_labels(engine, page, tmp_path):
    root = hostile_graph(engine)
    title = HOSTILE[4] + HOSTILE[0]
    text = (draw(root).html(title=title) if page == "drawing"
            else draw_backward(root).html(title=title))
    assert not _NOT_XML.search(text)
    for svg in re.findall(r"<svg .*?</svg>", text, re.S):
        ET.fromstring(svg)
    parser = _Page()
    parser.feed(text)
    assert set(parser.tags) <= {"html", "head", "meta", "title", "style", "body", "header", "h1",
                                "h2", "span", "div", "p", "section", "svg", "g", "path",
                                "polygon", "rect", "text"}, set(parser.tags)
    assert not any(a.startswith("on") for a in parser.attrs)
    assert printable(title) in "".join(parser.text)
    saved = (draw(root) if page == "drawing" else draw_backward(root)).save(tmp_path / "p.html")
    assert open(saved, encoding="utf-8").read().startswith("<!DOCTYPE html>")


_MERMAID_CODE = re.compile(r"#(\d+|amp|lt|gt|quot);")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"'}


def _mermaid_decode(s):
    """What Mermaid makes of a label's entity codes (one pass, as it does)."""
    return _MERMAID_CODE.sub(lambda m: _NAMED.get(m.group(1)) or chr(int(m.group(1))), s)


@pytest.mark.parametrize("view", ["full", "compact"])
def test_mermaid_labels_cannot_make_markup(engine, view):
    text = build_mermaid_script(hostile_graph(engine), view=view)
    assert not _NOT_XML.search(text) and "\x7f" not in text
    labels = []
    for line in text.splitlines():
        m = re.fullmatch(r'n\d+\("(.*)"\):::\w+', line)
        if m is None:
            continue
        label = m.group(1)
        assert '"' not in label
        bare = re.sub(r"</?(b|small)>|<br>", "\n", label)   # the export's own markup
        assert "<" not in bare and ">" not in bare
        assert "#" not in _MERMAID_CODE.sub("", bare)         # every # starts a code
        labels.append(_mermaid_decode(bare))
    decoded = "\n".join(labels)
    assert printable(HOSTILE[2]) in decoded and "#lt;img" in decoded   # shown as typed
    assert sum(printable(h) in decoded for h in HOSTILE) >= 3


@pytest.mark.parametrize("view", ["full", "compact"])
def test_dot_labels_stay_strings(engine, view):
    dot = build_dot(hostile_graph(engine), view=view)
    assert not _NOT_XML.search(dot) and "\r" not in dot
    labels = []
    for line in dot.splitlines():
        if re.match(r"\s+n\d+ \[", line):
            m = re.fullmatch(r'\s+n\d+ \[label="((?:[^"\\]|\\.)*)", fillcolor="#[0-9A-F]{6}", '
                             r'color="#[0-9A-F]{6}", fontcolor="#[0-9A-F]{6}"[^"]*\];', line)
            assert m, line
            assert not re.search(r"&(?!amp;)", m.group(1))     # Graphviz reads entities
            labels.append(html.unescape(re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n"
                                               else e.group(1), m.group(1))))
    decoded = "\n".join(labels)
    assert sum(printable(h) in decoded for h in HOSTILE) >= 3


def test_the_steps_table_keeps_its_columns(engine):
    drawing = draw_backward(hostile_graph(engine))
    rows = drawing.table().split("\n")
    assert len(rows) == len(drawing.steps) + 2                # no label ends a row
    for row in rows:
        assert len(re.findall(r"(?<!\\)\|", row.replace("\\\\", ""))) == 6, row
        assert "<" not in row and not _NOT_XML.search(row) and "\x7f" not in row
    body = "\n".join(rows[2:])
    assert "&lt;script&gt;" in body and "a \\| b \\|\\| c" in body
