"""Tools on top of ``regrad.Var``.

``tools.draw``: drawings of computation graphs (self-contained HTML/SVG,
Mermaid and Graphviz DOT text), imported here: ``from tools import
draw_to_html``. ``tools.nn``: Neuron, Layer, MLP (``from tools.nn import MLP``);
it is imported on first use, so importing ``tools`` stays light.
"""
import importlib as _importlib

from .draw import (Drawing, draw, draw_to_html, build_svg, build_dot,
                   build_mermaid_script)

__all__ = ["Drawing", "draw", "draw_to_html", "build_svg", "build_dot",
           "build_mermaid_script", "nn"]


def __getattr__(name):
    # `import tools; tools.nn.MLP` works without importing nn up front
    if name == "nn":
        return _importlib.import_module(".nn", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
