"""The original regrad's import path, kept for its scripts: ``from tools import
draw_to_html`` and ``from tools.nn import MLP`` give the very objects of
``regrad.draw`` and ``regrad.nn``. New code imports those directly; nothing in
``regrad`` imports ``tools``."""
from regrad.draw import (Drawing, draw, draw_to_html, build_svg, build_dot,
                         build_mermaid_script)
from regrad import nn

__all__ = ["Drawing", "draw", "draw_to_html", "build_svg", "build_dot",
           "build_mermaid_script", "nn"]
