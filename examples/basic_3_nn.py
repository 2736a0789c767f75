"""Training a neural net: micrograd's demo on regrad.

A 2-layer MLP (two hidden layers of 16 ReLU neurons) learns to separate the
two-moons data with an SVM "max-margin" loss and SGD. ``python
examples/basic_3_nn.py [STEPS]`` trains for STEPS steps (100 by default),
printing the loss and accuracy, then writes the decision boundary to
``moons_mlp.png`` (``moons_mlp.svg`` without matplotlib).

``python -m regrad moons`` runs the same recipe with more options.
"""
import random
import sys

from regrad import Var
from regrad.apps.moons import make_moons
from regrad.apps.plot import picture_path, save_moons_picture
from tools.nn import MLP

try:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    if steps < 1 or len(sys.argv) > 2:
        raise ValueError
except ValueError:
    print(f"usage: {sys.argv[0]} [STEPS]: STEPS is a whole number >= 1 (default 100), "
          f"not {' '.join(sys.argv[1:])!r}", file=sys.stderr)
    sys.exit(2)

random.seed(1337)
X, y = make_moons(n_samples=100, noise=0.1, seed=1337)  # points (x0, x1), labels -1/+1

model = MLP(2, [16, 16, 1])  # 2-layer neural network
print(model)
print("number of parameters", len(model.parameters()))


def loss():
    inputs = [list(map(Var, xrow)) for xrow in X]
    # forward the model to get scores
    scores = list(map(model, inputs))
    # svm "max-margin" loss
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    # L2 regularization
    alpha = 1e-4
    reg_loss = alpha * sum((p * p for p in model.parameters()))
    total_loss = data_loss + reg_loss
    # also get accuracy
    accuracy = [(yi > 0) == (scorei.val > 0) for yi, scorei in zip(y, scores)]
    return total_loss, sum(accuracy) / len(accuracy)


history = []
for k in range(steps):
    # forward
    total_loss, acc = loss()
    # backward
    model.zero_grad()
    total_loss.backward()
    # update (sgd)
    learning_rate = 1.0 - 0.9 * k / steps
    for p in model.parameters():
        p.val -= learning_rate * p.grad
    history.append((total_loss.val, acc))
    print(f"step {k} loss {total_loss.val:.4f}, accuracy {acc * 100:.1f}%")

path = picture_path(None, "moons_mlp")
save_moons_picture(path, model, X, y, history, title=f"MLP(2, [16, 16, 1]) after {steps} steps")
print("decision boundary:", path)
