"""Text exports of a graph: Mermaid (for Markdown renderers that draw it) and
Graphviz DOT. Both carry the same nodes, colours and labels as the SVG."""
from ._escape import dot_string, mermaid_label
from ._style import STYLE, EDGE_COLOUR

__all__ = ["mermaid_text", "dot_text"]


def mermaid_text(graph, orientation):
    lines = [f"graph {orientation}"]
    present = {node.kind for node in graph.nodes}
    for kind, st in STYLE.items():
        if kind not in present and kind == "neuron":
            continue
        lines.append(f"classDef {kind} fill:{st['fill']},stroke:{st['stroke']},color:{st['text']}")
    for node in graph.nodes:
        parts = [mermaid_label(t) for t in node.label_lines]
        label = f"<b>{parts[0]}</b>"
        if len(parts) > 1:
            label += "<br><small>" + "<br>".join(parts[1:]) + "</small>"
        lines.append(f'n{node.index}("{label}"):::{node.kind}')
    for e in graph.edges:
        mid = f"|\u00d7{e.count}|" if e.count > 1 else ""
        lines.append(f"n{e.src} -->{mid} n{e.dst}")
    root = graph.root
    lines.append(f"style n{root.index} stroke-width:3px")
    return "\n".join(lines) + "\n"


def dot_text(graph, orientation):
    lines = [
        "digraph regrad {",
        f"  rankdir={orientation};",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        f'  edge [color="{EDGE_COLOUR}", arrowsize=0.7];',
    ]
    for node in graph.nodes:
        st = STYLE[node.kind]
        label = "\\n".join(dot_string(t) for t in node.label_lines)
        extra = ", penwidth=2.5" if node.is_root else ""
        if node.released:
            extra += ', style="rounded,filled,dashed"'
        lines.append(f'  n{node.index} [label="{label}", fillcolor="{st["fill"]}", '
                     f'color="{st["stroke"]}", fontcolor="{st["text"]}"{extra}];')
    for e in graph.edges:
        extra = f' [label="\u00d7{e.count}"]' if e.count > 1 else ""
        lines.append(f"  n{e.src} -> n{e.dst}{extra};")
    lines.append("}")
    return "\n".join(lines) + "\n"
