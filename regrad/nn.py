"""A tiny neural-network library on top of ``regrad.Var``: Neuron, Layer, MLP.

Compatible with the original regrad's (and micrograd's) ``nn`` module: the
same classes, the same random draws in the same order (weights from Python's
global ``random``, ``random.uniform(-1, 1)``, neuron by neuron; biases start
at 0), and the same graph for a forward pass, so ``random.seed(s)`` followed
by ``MLP(2, [16, 16, 1])`` gives the original's weights and trains to the
original's losses, bit for bit.

Every class takes a keyword-only ``engine``: ``None`` builds the parameters
with ``regrad.Var`` (the default engine); an engine module from
``regrad.get_engine(...)`` or its name (``"cython"``, ``"python"``) builds them
with that engine's ``Var``. A model's graph lives in its parameters' engine.

Parameters carry labels that say where they sit, for drawings: ``w0``, ``w1``,
... and ``b`` in a Neuron, prefixed by ``N3.`` (the neuron's index) in a Layer
and by ``L0.`` (the layer's index) in an MLP: ``L0.N3.w1``, ``L0.N3.b``.
"""
import random
from collections.abc import Iterable
from operator import mul

import regrad

__all__ = ["Cell", "Neuron", "Layer", "MLP"]


def _var_class(engine):
    """The ``Var`` class for ``engine`` (None, a name, or an engine module)."""
    if engine is None:
        return regrad.Var
    if isinstance(engine, str):
        engine = regrad.get_engine(engine)
    return engine.Var


class Cell:
    """Base of the network pieces: a list of parameters to train."""

    def zero_grad(self):
        """Set every parameter's gradient to 0 (before the next backward)."""
        for p in self.parameters():
            p.grad = 0

    def parameters(self):
        """The parameters (leaf Vars with ``req_grad=True``), in a fixed order."""
        return []


class Neuron(Cell):
    """``relu(b + w0*x0 + w1*x1 + ...)``, or without the relu when linear.

    ``Neuron(n_in, is_nonlinear=True)``: ``n_in`` weights drawn from
    ``random.uniform(-1, 1)``, bias 0.
    """

    def __init__(self, n_in, is_nonlinear=True, *, engine=None, label=None):
        Var = _var_class(engine)
        prefix = "" if label is None else label + "."
        self.w = [Var(random.uniform(-1, 1), req_grad=True, label=f"{prefix}w{i}")
                  for i in range(n_in)]
        self.b = Var(0, req_grad=True, label=f"{prefix}b")
        self.is_nonlinear = is_nonlinear

    def __call__(self, x):
        # The original's sum((wi*xi for wi, xi in zip(self.w, x)), self.b)
        # without a generator: the same products, added to the bias in the
        # same order, so the graph and every value are identical.
        act = sum(map(mul, self.w, x), self.b)
        return act.relu() if self.is_nonlinear else act

    def parameters(self):
        return self.w + [self.b]

    def __repr__(self):
        return f"{'ReLU' if self.is_nonlinear else 'Linear'}-Neuron({len(self.w)})"


class Layer(Cell):
    """``n_out`` neurons reading the same ``n_in`` inputs.

    ``Layer(n_in, n_out, **kwargs)``: ``kwargs`` go to each ``Neuron``
    (``is_nonlinear``, ``engine``); ``label`` prefixes the neurons' labels.
    Calling it returns a list of ``n_out`` Vars, or a single Var when
    ``n_out == 1``.
    """

    def __init__(self, n_in, n_out, *, label=None, **kwargs):
        prefix = "" if label is None else label + "."
        self.neurons = [Neuron(n_in, label=f"{prefix}N{j}", **kwargs) for j in range(n_out)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self):
        return f"Layer-[{', '.join(str(n) for n in self.neurons)}]"


class MLP(Cell):
    """A multi-layer perceptron: ``MLP(n_in, [sizes])``.

    One Layer per size; every layer is ReLU but the last, which is linear.
    ``MLP(2, [16, 16, 1])`` maps two inputs to one score through two hidden
    layers of 16 neurons (337 parameters).
    """

    def __init__(self, n_in, sizes, *, engine=None):
        sz = [n_in] + list(sizes)
        self.layers = [Layer(sz[i], sz[i + 1], is_nonlinear=i != len(sizes) - 1, engine=engine,
                             label=f"L{i}")
                       for i in range(len(sizes))]

    def __call__(self, x):
        for layer in self.layers:
            # one value (a layer of one neuron returns a bare Var): a list of one
            if not isinstance(x, (list, tuple)) and not isinstance(x, Iterable):
                x = [x]
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self):
        return f"MLP-[{', '.join(str(layer) for layer in self.layers)}]"
