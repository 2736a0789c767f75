"""The sigmoid function built from regrad's operators, and its graph.

``python examples/basic_1_sigmoid.py`` writes ``computed_graph_sigmoid.html``.
"""
from regrad import Var
from tools import draw_to_html


def sigmoid(x: Var) -> Var:
    return 1 / (1 + (-x).exp())


x = Var(0.5, req_grad=True)
y = sigmoid(x)
y.backward(retain_graph=True)
print(f"sigmoid(0.5) = {y.val:.4f}, d sigmoid/dx = {x.grad:.4f}")  # 0.6225, 0.2350
print("drawing:", draw_to_html(y, "computed_graph_sigmoid"))
