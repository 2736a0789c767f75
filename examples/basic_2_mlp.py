"""Debugging a multi-layer perceptron: its size and the graph of one forward pass.

``python examples/basic_2_mlp.py`` writes ``computed_graph_mlp.html``
(drawn bottom to top).
"""
from regrad import Var
from tools.nn import MLP
from tools import draw_to_html

model = MLP(2, [3, 1])  # 3-neurons, 1-layer
print(model)
print("number of parameters", len(model.parameters()))
x = Var(0.5)
y = model([x, x ** 2])
print("drawing:", draw_to_html(y, "computed_graph_mlp", "BT"))
