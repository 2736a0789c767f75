"""tools.nn: sizes, reprs, zero_grad, the original's random draws and graph,
and one training step's gradients against PyTorch."""
import random

import pytest

from tools.nn import MLP, Cell, Layer, Neuron


# ------------------------------------------------------------------ structure

@pytest.mark.parametrize("n_in, sizes, count", [
    (2, [3, 1], 13),                 # the README's model
    (2, [16, 16, 1], 337),           # the moons model: 48 + 272 + 17
    (3, [4, 4, 1], 16 + 20 + 5),
    (5, [1], 6),
])
def test_parameter_counts(engine, n_in, sizes, count):
    model = MLP(n_in, sizes, engine=engine)
    params = model.parameters()
    assert len(params) == count
    assert len({id(p) for p in params}) == count
    assert all(type(p) is engine.Var and p.req_grad for p in params)


def test_reprs(engine):
    assert repr(Neuron(2, engine=engine)) == "ReLU-Neuron(2)"
    assert repr(Neuron(16, is_nonlinear=False, engine=engine)) == "Linear-Neuron(16)"
    assert repr(Layer(2, 2, engine=engine)) == "Layer-[ReLU-Neuron(2), ReLU-Neuron(2)]"
    assert repr(MLP(2, [3, 1], engine=engine)) == (
        "MLP-[Layer-[ReLU-Neuron(2), ReLU-Neuron(2), ReLU-Neuron(2)], "
        "Layer-[Linear-Neuron(3)]]")


def test_cell_has_no_parameters():
    cell = Cell()
    assert cell.parameters() == []
    cell.zero_grad()


def test_layer_of_one_neuron_returns_a_var(engine):
    assert isinstance(Layer(2, 1, engine=engine)([1.0, 2.0]), engine.Var)
    out = Layer(2, 3, engine=engine)([1.0, 2.0])
    assert isinstance(out, list) and len(out) == 3
    assert all(isinstance(v, engine.Var) for v in out)


def test_last_layer_linear_others_relu(engine):
    model = MLP(2, [4, 3, 1], engine=engine)
    assert [n.is_nonlinear for layer in model.layers for n in layer.neurons] == \
        [True] * 4 + [True] * 3 + [False]
    # a linear output can be negative; a ReLU neuron never is
    random.seed(3)
    model = MLP(1, [1], engine=engine)
    model.layers[0].neurons[0].w[0].val = 1.0
    assert model([-2.0]).val == -2.0
    relu = Neuron(1, engine=engine)
    relu.w[0].val = 1.0
    assert relu([-2.0]).val == 0.0


def test_zero_grad(engine):
    model = MLP(2, [3, 1], engine=engine)
    assert all(p.grad is None for p in model.parameters())
    for p in model.parameters():
        p.val = 0.5      # every neuron active for positive inputs: no zero gradient
    model([0.5, 1.5]).backward()
    assert all(p.grad > 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0 for p in model.parameters())
    # zero_grad on a piece only touches that piece
    model([0.5, 1.5]).backward()
    model.layers[1].zero_grad()
    assert all(p.grad == 0 for p in model.layers[1].parameters())
    assert all(p.grad > 0 for p in model.layers[0].parameters())


def test_default_engine_is_regrad_var():
    import regrad
    assert all(type(p) is regrad.Var for p in MLP(2, [2, 1]).parameters())
    for name in ("python", "cython"):
        try:
            engine = regrad.get_engine(name)
        except ImportError:
            continue
        assert all(type(p) is engine.Var for p in MLP(2, [2, 1], engine=name).parameters())


def test_original_positional_signatures(engine):
    n = Neuron(3, False, engine=engine)
    assert not n.is_nonlinear and len(n.w) == 3
    layer = Layer(3, 2, is_nonlinear=False, engine=engine)
    assert all(not n.is_nonlinear for n in layer.neurons)
    with pytest.raises(TypeError):
        MLP(2, [1], engine)    # engine is keyword-only


# ------------------------------------------------ the original's weights

def test_same_random_draws_as_the_original(engine):
    """Weights come from the global random, neuron after neuron, in order;
    biases start at 0 and draw nothing."""
    random.seed(1337)
    model = MLP(2, [16, 16, 1], engine=engine)
    after = random.random()
    random.seed(1337)
    draws = [random.uniform(-1, 1) for _ in range(2 * 16 + 16 * 16 + 16)]
    assert random.random() == after          # nothing else was drawn
    weights = [w.val for layer in model.layers for n in layer.neurons for w in n.w]
    assert weights == draws
    assert all(n.b.val == 0.0 for layer in model.layers for n in layer.neurons)
    # parameters(): each neuron's weights, then its bias
    first = model.layers[0].neurons[0]
    assert all(a is b for a, b in zip(model.parameters()[:3], [first.w[0], first.w[1], first.b]))


def _original_neuron_call(neuron, x):
    """The original's forward, as written there."""
    act = sum((wi * xi for wi, xi in zip(neuron.w, x)), neuron.b)
    return act.relu() if neuron.is_nonlinear else act


def _original_mlp_call(model, x):
    for layer in model.layers:
        out = [_original_neuron_call(n, x) for n in layer.neurons]
        x = out[0] if len(out) == 1 else out
    return x


def _graph(root):
    """The graph under ``root`` as a list of (op name, value, input positions)."""
    nodes, index = [], {}

    def visit(v):
        if id(v) in index:
            return index[id(v)]
        src = [visit(x) for x in (getattr(v, "src", None) or ())]
        index[id(v)] = len(nodes)
        nodes.append((v.name, v.val, tuple(src)))
        return index[id(v)]

    visit(root)
    return nodes


def test_forward_graph_matches_the_original(engine):
    """The same operations in the same order: same graph, same bits."""
    random.seed(7)
    model = MLP(2, [4, 3, 1], engine=engine)
    for x in ([0.3, -1.2], [engine.Var(0.7), engine.Var(2.5)]):
        ours, theirs = model(x), _original_mlp_call(model, x)
        assert ours.val == theirs.val
        if engine.__name__.endswith("pure"):
            assert _graph(ours) == _graph(theirs)
        for p in model.parameters():
            p.grad = None
        ours.backward()
        g_ours = [p.grad for p in model.parameters()]
        for p in model.parameters():
            p.grad = None
        theirs.backward()
        assert g_ours == [p.grad for p in model.parameters()]


# ------------------------------------------------- against PyTorch

def test_training_step_gradients_match_torch(engine):
    """One step of the moons recipe: loss, gradients and updated weights in
    float64 PyTorch from the same starting weights."""
    torch = pytest.importorskip("torch")
    from regrad.apps.moons import make_moons, step

    X, y = make_moons(40, noise=0.1, seed=5)
    random.seed(11)
    model = MLP(2, [16, 16, 1], engine=engine)
    layers = [(torch.tensor([[w.val for w in n.w] for n in layer.neurons],
                            dtype=torch.float64, requires_grad=True),
               torch.tensor([n.b.val for n in layer.neurons], dtype=torch.float64,
                            requires_grad=True))
              for layer in model.layers]

    h = torch.tensor(X, dtype=torch.float64)
    for i, (W, b) in enumerate(layers):
        h = h @ W.T + b
        if i < len(layers) - 1:
            h = torch.relu(h)
    scores = h[:, 0]
    labels = torch.tensor(y, dtype=torch.float64)
    data_loss = torch.relu(1 - labels * scores).mean()
    reg = sum((W ** 2).sum() + (b ** 2).sum() for W, b in layers)
    total = data_loss + 1e-4 * reg
    total.backward()
    expected_acc = ((scores > 0) == (labels > 0)).double().mean().item()

    # regrad: keep the gradients around by running the step's pieces
    from regrad.apps.moons import loss
    ours, acc = loss(model, X, y)
    assert ours.val == pytest.approx(total.item(), rel=1e-12, abs=1e-15)
    assert acc == expected_acc
    model.zero_grad()
    ours.backward()
    for (W, b), layer in zip(layers, model.layers):
        for r, n in enumerate(layer.neurons):
            for c, w in enumerate(n.w):
                assert w.grad == pytest.approx(W.grad[r, c].item(), rel=1e-9, abs=1e-12)
            assert n.b.grad == pytest.approx(b.grad[r].item(), rel=1e-9, abs=1e-12)

    # step() applies p.val -= lr * p.grad to exactly these gradients
    before = [(p.val, p.grad) for p in model.parameters()]
    value, acc2 = step(model, X, y, lr=0.5)
    assert value == ours.val and acc2 == acc
    assert [p.val for p in model.parameters()] == [v - 0.5 * g for v, g in before]


# ------------------------------------------- layers of one neuron, labels

@pytest.mark.parametrize("sizes", [[1, 3], [1, 1], [4, 1, 2, 1], [1, 16, 1]])
def test_mlp_with_a_layer_of_one_neuron(engine, sizes):
    """A layer of one neuron returns a bare Var (as the original's does); the
    next layer takes it as a list of one. Reference: the same network on
    floats, layer by layer."""
    random.seed(7)
    model = MLP(2, sizes, engine=engine)
    x = [0.5, -1.5]
    out = model(x)
    h = x
    for i, layer in enumerate(model.layers):
        h = [sum((w.val * v for w, v in zip(n.w, h)), n.b.val) for n in layer.neurons]
        if i < len(model.layers) - 1:
            h = [max(v, 0.0) for v in h]
    got = [out.val] if sizes[-1] == 1 else [v.val for v in out]
    assert got == pytest.approx(h, rel=1e-12, abs=1e-15)
    assert isinstance(model.layers[0](x), engine.Var) == (sizes[0] == 1)


def test_parameters_are_labelled(engine):
    model = MLP(2, [3, 1], engine=engine)
    labels = [p.label for p in model.parameters()]
    assert labels[:3] == ["L0.N0.w0", "L0.N0.w1", "L0.N0.b"]
    assert labels[-4:] == ["L1.N0.w0", "L1.N0.w1", "L1.N0.w2", "L1.N0.b"]
    assert len(set(labels)) == len(labels) == 13
    assert [p.label for p in Neuron(2, engine=engine).parameters()] == ["w0", "w1", "b"]
    assert [p.label for p in Layer(2, 2, engine=engine).parameters()][3:] == [
        "N1.w0", "N1.w1", "N1.b"]
