"""What the report measures: the moons step's workload (``Workload``,
``learning_rate``, ``moons_loss``), counting a graph's nodes, and the graphs
that grow from 10^3 to 10^6 nodes for the scaling runs."""


#: the moons step of GUIDE.md
WORKLOAD = dict(samples=100, noise=0.1, seed=1337, hidden=(16, 16), alpha=1e-4)


SCALING_SHAPES = ("chain", "sum", "mlp")
SCALING_SIZES = (10**3, 10**4, 10**5, 10**6)
SCALING_TARGET_SIZES = (10**4, 10**6)


def learning_rate(k, epochs=100):
    """The moons step's learning rate at step ``k``: ``1.0 - 0.9*k/epochs``,
    restarting every ``epochs`` steps (a benchmark may run many more steps than
    one training run has epochs; the rate then stays in [0.1, 1])."""
    return 1.0 - 0.9 * (k % epochs) / epochs


class Workload:
    """What one step computes: the data, the model shape, the L2 weight."""

    def __init__(self, samples=WORKLOAD["samples"], hidden=WORKLOAD["hidden"],
                 noise=WORKLOAD["noise"], seed=WORKLOAD["seed"], alpha=WORKLOAD["alpha"]):
        from .moons import make_moons
        self.samples, self.hidden = samples, tuple(hidden)
        self.noise, self.seed, self.alpha = noise, seed, alpha
        self.X, self.y = make_moons(samples, noise, seed)

    @property
    def is_default(self):
        return (self.samples, self.hidden, self.noise, self.seed, self.alpha) == (
            WORKLOAD["samples"], tuple(WORKLOAD["hidden"]), WORKLOAD["noise"],
            WORKLOAD["seed"], WORKLOAD["alpha"])

    @property
    def sizes(self):
        return list(self.hidden) + [1]

    def describe(self):
        sizes = ", ".join(map(str, self.sizes))
        return (f"MLP(2, [{sizes}]) on {self.samples} two-moons points (noise "
                f"{self.noise:g}, seed {self.seed}), hinge loss + {self.alpha:g} * L2, SGD")


def count_nodes(root, inputs=None):
    """The number of distinct nodes in the graph under ``root``: ``root`` and
    everything reachable through ``inputs(node)`` (default: regrad's ``.src``),
    constants and leaves included. Iterative; nodes deduplicated by identity."""
    if inputs is None:
        def inputs(v):
            return v.src
    seen = {id(root): root}     # holding the objects keeps their ids unique
    stack = [root]
    while stack:
        for x in inputs(stack.pop()) or ():
            if id(x) not in seen:
                seen[id(x)] = x
                stack.append(x)
    return len(seen)


def moons_loss(model, X, y, alpha, value):
    """``regrad.apps.moons.loss`` for another library's scalars: the same operations
    in the same order; ``value(score)`` gives a score as a float."""
    scores = list(map(model, X))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    if alpha:
        total = data_loss + alpha * sum((p * p for p in model.parameters()))
    else:
        total = data_loss
    correct = sum((yi > 0) == (value(scorei) > 0) for yi, scorei in zip(y, scores))
    return total, correct / len(y)


def _mlp_nodes_per_sample(engine):
    """Nodes of the moons loss graph as ``a + b * samples`` (it grows linearly)."""
    from .moons import build_model, loss, make_moons
    model = build_model([16, 16], seed=1, engine=engine)
    counts = [count_nodes(loss(model, *make_moons(k, 0.1, 1))[0]) for k in (1, 2)]
    return counts[0] - (counts[1] - counts[0]), counts[1] - counts[0]


class ScalingGraph:
    """One graph of the scaling runs: ``run()`` builds it, runs backward on it
    and lets it go (build + backward + free); ``nodes`` is its node count."""

    def __init__(self, shape, engine, size):
        from regrad import get_engine
        if shape not in SCALING_SHAPES:
            raise ValueError(f"unknown graph shape {shape!r}: expected one of "
                             f"{', '.join(SCALING_SHAPES)}")
        if size < 10:
            raise ValueError(f"a scaling graph needs at least 10 nodes, not {size}")
        self.shape, self.size = shape, size
        self.engine = get_engine(engine) if isinstance(engine, str) else engine
        Var = self.engine.Var
        if shape == "chain":
            # y = y * w + b, again and again: a chain as deep as the graph is large
            self._x, self._w, self._b = Var(0.5, req_grad=True), Var(0.999), Var(0.001)
            self._steps = (size - 3) // 2
            self.nodes = 3 + 2 * self._steps
            self.run = self._run_chain
        elif shape == "sum":
            # sum(xs) over leaves that require grad: what sum() over Vars builds
            n = (size - 1) // 2
            self._xs = [Var(float(i % 7) - 3.0, req_grad=True) for i in range(n)]
            self.nodes = 2 * n + 1          # the leaves, n additions, sum()'s start 0
            self.run = self._run_sum
        else:
            # the moons loss graph over as many points as it takes
            from .moons import build_model, make_moons
            a, b = _mlp_nodes_per_sample(self.engine)
            k = max(1, round((size - a) / b))
            self._model = build_model([16, 16], seed=1337, engine=self.engine)
            self._X, self._y = make_moons(k, 0.1, 1337)
            self.nodes = a + b * k
            self.run = self._run_mlp

    def _run_chain(self):
        y, w, b = self._x, self._w, self._b
        for _ in range(self._steps):
            y = y * w + b
        y.backward()

    def _run_sum(self):
        sum(self._xs).backward()

    def _run_mlp(self):
        from .moons import loss
        loss(self._model, self._X, self._y)[0].backward()

    def root(self):
        """Build the graph and return its root (no backward): for counting."""
        if self.shape == "chain":
            y = self._x
            for _ in range(self._steps):
                y = y * self._w + self._b
            return y
        if self.shape == "sum":
            return sum(self._xs)
        from .moons import loss
        return loss(self._model, self._X, self._y)[0]


def scaling_graph(shape, engine, size):
    """A ``ScalingGraph``: ``shape`` is ``chain``, ``sum`` or ``mlp``; ``engine``
    a name or an engine module; ``size`` the number of nodes wanted (the graph
    has about that many: ``.nodes`` says exactly)."""
    return ScalingGraph(shape, engine, size)
