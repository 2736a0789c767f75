"""The comparison report: ``python -m regrad bench``.

Runs the moons step (GUIDE.md's recipe, ``regrad.apps.moons.step``) for several
contenders in one process, interleaved round-robin, and prints a table of
milliseconds per step, speed-up over regrad's pure engine and bytes held per
graph node; then the cost per node of build + backward + free as graphs grow
from 10^3 to 10^6 nodes; then whether the compiled engine meets its targets in
this run. It writes the step table as a bar chart (PNG with matplotlib, else
SVG) and says which machine it ran on.

The contenders, each a small class in ``CONTENDERS`` (adding one is a class
with ``setup()`` and ``step()``):

- ``compiled``: regrad's compiled engine, ``regrad.apps.moons.step``;
- ``replay``: a recorded tape replayed each step (``regrad.compile``), when
  this version of regrad has it;
- ``lanes``: one point's loss recorded once (``regrad.compile(..., inputs=)``)
  and run over the points at once, ``regrad.apps.moons.LanesStep``;
- ``pure``: regrad's pure-Python engine, ``regrad.apps.moons.step`` (the baseline);
- ``micrograd``: ``pip install micrograd``, its own ``nn.MLP``, the same loss;
- ``torch-scalar``: PyTorch on the same scalar graph: the parameters are 0-d
  float64 tensors in ``regrad.nn``'s MLP;
- ``torch-batched``: the same MLP as float64 matrices, one thread;
- ``numpy``: the same MLP as float64 matrices in NumPy, backward by hand;
- ``jax``: ``pip install jax``, the whole step under ``jax.jit`` (its compile
  time shows in the "first step" column), the loss read as a float every
  step, which waits for the step;
- ``jax-loop``: the same, run as JAX users run it: ten steps in a loop that
  reads the loss only at the end (each step dispatched while the last runs);
- ``casadi``: ``pip install casadi``, the loss as an SX expression: one
  point's Function mapped over the points, its gradient a Function;
- ``c``: the step written by hand in C (``benchmarks/moons_step.c``: per-layer
  loops over the points, sums in point order, no FMA), built now when a C
  compiler is there: the distance to a plain loop;
- ``floats``: the same forward pass on plain Python floats, in the same
  Python structure (``regrad.nn``'s classes); no graph, no backward: the
  interpreter's floor for building the graph.

Every contender starts from the same weights (``random.seed(seed)`` before
the model is made) and the same data; the first loss of every contender is
checked against the compiled engine's.

Measuring: each round runs every contender (in an order rotated each round)
for at least ``--min-time`` seconds and at least one step, and keeps the
median step time of that round; a contender's time is the median over rounds,
and a ratio between two contenders is the median of their per-round ratios.
Steps are timed by this process's CPU time (``--clock wall``: wall-clock
time), so that on a shared machine the time spent waiting for a core is not
counted; the report says how much of a core the timed code got.
``gc.collect()`` runs (untimed) before each contender's turn; the cyclic
garbage collector stays on during the steps. Bytes per node: tracemalloc
over building the loss graph once (after ``gc.collect()``; the compiled
engine reports each node to tracemalloc, taken from its pool or not),
divided by the number of nodes in the graph (found through ``.src``, deduped,
counting constants and leaves).
"""
import argparse
import gc
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
import types
from operator import mul

from . import history
from .args import layer_sizes, names_from, nonnegative, positive_int

__all__ = ["WORKLOAD", "TARGETS", "CONTENDERS", "SCALING_SHAPES", "SCALING_SIZES",
           "Workload", "Contender", "learning_rate", "count_nodes", "moons_loss",
           "scaling_graph", "measure_steps", "measure_bytes", "measure_rss", "measure_scaling",
           "machine_description", "run_report", "add_parser", "run"]

#: the moons step of GUIDE.md
WORKLOAD = dict(samples=100, noise=0.1, seed=1337, hidden=(16, 16), alpha=1e-4)

#: the compiled engine's targets (issues 5, 14 and 22)
TARGETS = dict(
    speedup_vs_pure=35.0,     # moons step >= 35x faster than the pure engine
    vs_floats=1.4,            # moons step <= 1.4x the plain-float forward pass
    bytes_per_node=48.0,      # <= 48 bytes held per node
    scaling=1.5,              # cost per node at 10^6 nodes <= 1.5x that at 10^4
    # static-graph replay
    replay_vs_torch=1.0,      # replay's step faster than PyTorch's batched tensors
    replay_ns_per_node=7.0,   # replay's step (forward, backward, update) <= 7 ns per node
    # lanes: one point's graph over the batch
    lanes_vs_jax=0.3,         # lanes' step <= 0.3x JAX jit(grad)'s in a loop that never waits
    lanes_vs_c=1.5,           # lanes' step <= 1.5x the hand-written C step's
    lanes_vs_numpy=1.0,       # lanes' step faster than NumPy with a hand-written backward
)

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


# ------------------------------------------------------------------ graphs

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


# ------------------------------------------------------------- contenders

class Contender:
    """One way of running the moons step.

    ``setup(work)`` builds the model; ``step(k)`` runs step ``k`` and returns
    the loss before the update. ``build_graph()`` builds the loss graph and
    returns its root, for the bytes-per-node measure (None when there is no
    scalar graph to measure: ``bytes_note`` says why); ``inputs(node)`` lists
    a node's inputs, for counting nodes.
    """
    key = ""              # the name for --only / --skip
    label = ""            # the row's name
    bytes_note = "n/a"    # shown in place of bytes/node when build_graph is None
    has_graph = True

    def missing(self):
        """None when this contender can run here, else why not (shown in the table)."""
        return None

    def setup(self, work):
        self.work = work

    def step(self, k):
        raise NotImplementedError

    def build_graph(self):
        return None

    def inputs(self, node):
        return node.src

    def drain(self):
        """Objects to hold while bytes are measured: none (the compiled
        engine's allocator reports every node to tracemalloc, reused or not)."""
        return None

    def bytes_per_node(self):
        """``(requested, rounded, nodes)`` or None: see ``measure_bytes``."""
        return measure_bytes(self)


class RegradEngine(Contender):
    engine_name = ""

    def missing(self):
        from regrad import get_engine
        try:
            get_engine(self.engine_name)
        except ImportError as exc:
            return f"not built ({exc}); pip install -e ."
        return None

    def setup(self, work):
        from regrad import get_engine
        from .moons import build_model
        self.work = work
        self.engine = get_engine(self.engine_name)
        self.model = build_model(work.hidden, seed=work.seed, engine=self.engine)
        self.params = self.model.parameters()

    def step(self, k):
        from .moons import step
        w = self.work
        return step(self.model, w.X, w.y, learning_rate(k), w.alpha, self.params)[0]

    def build_graph(self):
        from .moons import loss
        return loss(self.model, self.work.X, self.work.y, self.work.alpha)[0]


class RegradCompiled(RegradEngine):
    key = "compiled"
    label = "regrad compiled"
    engine_name = "cython"


class RegradPure(RegradEngine):
    key = "pure"
    label = "regrad pure-Python"
    engine_name = "python"


class RegradReplay(RegradEngine):
    """The moons loss recorded once with ``regrad.compile(root)``; each step
    replays the tape: zero_grad, ``tape.forward()``, ``tape.backward()``, SGD."""
    key = "replay"
    label = "regrad replay"
    engine_name = "cython"
    bytes_note = "n/a (tape)"

    def missing(self):
        import regrad
        if not hasattr(regrad, "compile"):
            return "not in this version (regrad.compile)"
        return super().missing()

    def setup(self, work):
        import regrad
        from .moons import loss
        super().setup(work)
        root = loss(self.model, work.X, work.y, work.alpha)[0]
        self.tape = regrad.compile(root)

    def bytes_per_node(self):
        """What the tape holds per node of the graph it recorded: tracemalloc
        over ``regrad.compile`` of a graph built beforehand (untraced)."""
        import regrad
        from .moons import loss
        root = loss(self.model, self.work.X, self.work.y, self.work.alpha)[0]
        nodes = count_nodes(root)
        gc.collect()
        tracemalloc.start()
        try:
            tape = regrad.compile(root)
            del root                      # released by compile, but for its root
            snapshot = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        requested = sum(t.size for t in snapshot.traces)
        rounded = sum(_round16(t.size) for t in snapshot.traces)
        del tape, snapshot
        return requested / nodes, rounded / nodes, nodes

    def step(self, k):
        lr = learning_rate(k)
        self.model.zero_grad()
        value = self.tape.forward()
        self.tape.backward()
        for p in self.params:
            p.val -= lr * p.grad
        return value if isinstance(value, float) else getattr(value, "val", value)


class RegradLanes(RegradEngine):
    """One point's loss recorded once with ``regrad.compile(..., inputs=...)``
    and run over the 100 points at once (``regrad.apps.moons.LanesStep``: the
    L2 term a replay tape, the update by ``regrad.optim.SGD``)."""
    key = "lanes"
    label = "regrad lanes (one point's graph)"
    engine_name = "cython"
    bytes_note = "n/a (lanes)"

    def missing(self):
        try:
            from regrad import _lanes  # noqa: F401
        except ImportError as exc:
            return f"not built ({exc}); pip install -e ."
        return super().missing()

    def setup(self, work):
        from .moons import LanesStep
        super().setup(work)
        self.lanes = LanesStep(self.model, work.alpha, self.params)

    def step(self, k):
        return self.lanes(self.work.X, self.work.y, learning_rate(k))[0]

    def bytes_per_node(self):
        return None


class NumpyByHand(Contender):
    """The same MLP as float64 matrices in NumPy, the backward pass written
    out by hand (the chain rule through matrix products), SGD."""
    key = "numpy"
    label = "NumPy, hand-written backward"
    bytes_note = "n/a (arrays)"
    has_graph = False

    def missing(self):
        try:
            import numpy  # noqa: F401
        except ImportError:
            return "not installed (pip install numpy)"
        return None

    def setup(self, work):
        import numpy as np
        self.np, self.work = np, work
        self.params = _matrices(work, np.array)
        self.X = np.array(work.X, dtype=float)
        self.y = np.array(work.y, dtype=float)

    def step(self, k):
        np, lr, alpha = self.np, learning_rate(k), self.work.alpha
        ps, n_layers = self.params, len(self.params) // 2
        hs = [self.X]
        for i in range(n_layers):
            z = hs[-1] @ ps[2 * i] + ps[2 * i + 1]
            hs.append(np.maximum(z, 0.0) if i < n_layers - 1 else z)
        scores = hs[-1][:, 0]
        margins = 1 - self.y * scores
        n = len(self.y)
        total = np.maximum(margins, 0.0).sum() * (1.0 / n)
        if alpha:
            total += alpha * sum(float((p * p).sum()) for p in ps)
        _ = ((self.y > 0) == (scores > 0)).sum() / n                   # accuracy
        g = (np.where(margins > 0, -self.y, 0.0) * (1.0 / n))[:, None]  # d total / d scores
        for i in range(n_layers - 1, -1, -1):
            gw, gb = hs[i].T @ g, g.sum(axis=0)
            if i:
                g = (g @ ps[2 * i].T) * (hs[i] > 0)
            ps[2 * i] -= lr * (gw + 2 * alpha * ps[2 * i])
            ps[2 * i + 1] -= lr * (gb + 2 * alpha * ps[2 * i + 1])
        return float(total)


def _matrices(work, array):
    """The model's weights (in x out) and biases, from ``random.seed(seed)``."""
    from .moons import build_model
    model = build_model(work.hidden, seed=work.seed, engine="python")
    out = []
    for layer in model.layers:
        out.append(array([[w.val for w in n.w] for n in layer.neurons], dtype=float).T.copy())
        out.append(array([n.b.val for n in layer.neurons], dtype=float))
    return out


class JaxJit(Contender):
    """The same MLP in JAX, the whole step (loss, ``grad``, SGD update) under
    ``jax.jit``, float64, on the CPU: its compile time is in "first step"."""
    key = "jax"
    label = "JAX jit(grad), loss read every step"
    bytes_note = "n/a (XLA)"
    has_graph = False

    def missing(self):
        try:
            import jax  # noqa: F401
        except ImportError:
            return "not installed (pip install jax)"
        return None

    def setup(self, work):
        import jax
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_platforms", "cpu")
        import jax.numpy as jnp
        import numpy as np
        self.work = work
        self.params = [jnp.asarray(p) for p in _matrices(work, np.array)]
        X, y, alpha = jnp.asarray(work.X), jnp.asarray(work.y, dtype=float), work.alpha

        def loss(ps):
            h = X
            for i in range(len(ps) // 2):
                h = h @ ps[2 * i] + ps[2 * i + 1]
                if i < len(ps) // 2 - 1:
                    h = jnp.maximum(h, 0.0)
            scores = h[:, 0]
            total = jnp.maximum(1 - y * scores, 0.0).sum() * (1.0 / len(work.y))
            if alpha:
                total = total + alpha * sum((p * p).sum() for p in ps)
            return total, ((y > 0) == (scores > 0)).sum()

        def step(ps, lr):
            (total, correct), grads = jax.value_and_grad(loss, has_aux=True)(ps)
            return [p - lr * g for p, g in zip(ps, grads)], total, correct

        self.jit_step = jax.jit(step)

    def step(self, k):
        self.params, total, correct = self.jit_step(self.params, learning_rate(k))
        return float(total)


class JaxLoop(JaxJit):
    """``JaxJit``'s step as JAX users run it: a loop of ``steps_per_call``
    steps that reads the loss only at the end (JAX dispatches a step while the
    one before still runs; reading a loss as a float waits for it)."""
    key = "jax-loop"
    label = "JAX jit(grad), loop reads the loss at the end"
    steps_per_call = 10

    def step(self, k):
        first = None
        for i in range(self.steps_per_call):
            self.params, total, correct = self.jit_step(self.params, learning_rate(k + i))
            if first is None:
                first = total
        total.block_until_ready()
        return float(first)


def _c_compiler():
    """The C compiler's command (``CC``, else Python's own, else ``cc``), or None."""
    import shlex
    import shutil
    import sysconfig
    for cmd in (os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc", "gcc", "clang"):
        if cmd and shutil.which(shlex.split(cmd)[0]):
            return shlex.split(cmd)
    return None


#: the hand-written step, and the flags it is built with: regrad's bit rules (no FMA)
HAND_C_SOURCE = os.path.join("benchmarks", "moons_step.c")
HAND_C_FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-shared", "-fPIC"]


class HandWrittenC(Contender):
    """The same step written by hand in C (``benchmarks/moons_step.c``: per-layer
    loops over the points, sums in point order, no FMA), built now with
    ``HAND_C_FLAGS`` and called through ``ctypes``: how far the others are from
    a plain loop that keeps the same bit rules."""
    key = "c"
    label = "hand-written C (benchmarks/moons_step.c)"
    bytes_note = "n/a (arrays)"
    has_graph = False

    @staticmethod
    def source():
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        return os.path.join(root, HAND_C_SOURCE)

    def missing(self):
        if not os.path.exists(self.source()):
            return f"{HAND_C_SOURCE} is not here (a source checkout has it)"
        if _c_compiler() is None:
            return "no C compiler (set CC)"
        return None

    def setup(self, work):
        import ctypes
        import tempfile
        self.work = work
        out = os.path.join(tempfile.mkdtemp(prefix="regrad-bench-"), "moons_step.so")
        cmd = _c_compiler() + HAND_C_FLAGS + [self.source(), "-o", out]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr}")
        lib = self.lib = ctypes.CDLL(out)
        double_p, int_p = ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int)
        lib.moons_step.restype = ctypes.c_double
        lib.moons_step.argtypes = [ctypes.c_int, double_p, double_p, ctypes.c_int, int_p,
                                   double_p, ctypes.c_double, ctypes.c_double, double_p, int_p]
        lib.moons_work_size.restype = ctypes.c_size_t
        lib.moons_work_size.argtypes = [ctypes.c_int, ctypes.c_int, int_p]
        from .moons import build_model
        model = build_model(work.hidden, seed=work.seed, engine="python")
        params = [p.val for p in model.parameters()]
        sizes = [2] + work.sizes
        n = len(work.X)

        def doubles(values):
            return (ctypes.c_double * len(values))(*values)

        self.n_layers = len(sizes) - 1
        self.sizes = (ctypes.c_int * len(sizes))(*sizes)
        self.X = doubles([c for point in work.X for c in point])
        self.y = doubles([float(v) for v in work.y])
        self.params = doubles(params)
        self.work_space = (ctypes.c_double * lib.moons_work_size(n, self.n_layers,
                                                                 self.sizes))()
        self.correct = ctypes.c_int(0)
        self.args = (n, self.X, self.y, self.n_layers, self.sizes, self.params)

    def step(self, k):
        return self.lib.moons_step(*self.args, learning_rate(k), self.work.alpha,
                                   self.work_space, self.correct)


class CasadiSX(Contender):
    """The same loss as a CasADi SX expression of the 337 parameters: one
    point's loss as a Function, ``map`` over the points, its gradient as a
    Function (generated once: "first step"); each step calls it, SGD in NumPy."""
    key = "casadi"
    label = "CasADi SX (map over points)"
    bytes_note = "n/a (SX)"
    has_graph = False

    def missing(self):
        try:
            import casadi  # noqa: F401
            import numpy  # noqa: F401
        except ImportError:
            return "not installed (pip install casadi numpy)"
        return None

    def setup(self, work):
        import casadi as ca
        import numpy as np
        self.np, self.work = np, work
        mats = _matrices(work, np.array)
        flat = np.concatenate([m.ravel() for m in mats])
        w = ca.SX.sym("w", len(flat))
        x = ca.SX.sym("x", 3)                      # x0, x1, label
        h, pos = ca.vertcat(x[0], x[1]).T, 0
        for i in range(len(mats) // 2):
            W, b = mats[2 * i], mats[2 * i + 1]
            Wsym = ca.reshape(w[pos:pos + W.size], W.shape[1], W.shape[0]).T
            pos += W.size
            bsym = w[pos:pos + b.size].T
            pos += b.size
            h = ca.mtimes(h, Wsym) + bsym
            if i < len(mats) // 2 - 1:
                h = ca.fmax(h, 0)
        point = ca.Function("point", [w, x], [ca.fmax(1 - x[2] * h[0], 0), h[0]])
        n = len(work.y)
        data = ca.SX.sym("data", 3, n)
        losses, scores = point.map(n, "serial")(w, data)
        total = ca.sum2(losses) * (1.0 / n) + work.alpha * ca.dot(w, w)
        self.fn = ca.Function("step", [w, data], [total, ca.gradient(total, w), scores])
        self.w = flat
        self.data = np.array([[a, b, c] for (a, b), c in zip(work.X, work.y)]).T.copy()

    def step(self, k):
        np = self.np
        total, grad, scores = self.fn(self.w, self.data)
        _ = ((np.asarray(scores).ravel() > 0) == (self.data[2] > 0)).sum()   # accuracy
        self.w = self.w - learning_rate(k) * np.asarray(grad).ravel()
        return float(total)


class Micrograd(Contender):
    key = "micrograd"
    label = "micrograd"

    def missing(self):
        try:
            import micrograd.nn  # noqa: F401
        except ImportError:
            return "not installed (pip install micrograd)"
        return None

    def setup(self, work):
        from micrograd.nn import MLP
        self.work = work
        random.seed(work.seed)
        self.model = MLP(2, work.sizes)
        self.params = self.model.parameters()

    def _loss(self):
        w = self.work
        return moons_loss(self.model, w.X, w.y, w.alpha, lambda v: v.data)

    def step(self, k):
        lr = learning_rate(k)
        total, _ = self._loss()
        self.model.zero_grad()
        total.backward()
        for p in self.params:
            p.data -= lr * p.grad
        return total.data

    def build_graph(self):
        return self._loss()[0]

    def inputs(self, node):
        return node._prev


def _torch():
    import torch
    torch.set_num_threads(1)
    return torch


class _TorchContender(Contender):
    has_graph = False

    def missing(self):
        try:
            import torch  # noqa: F401
        except ImportError:
            return "not installed (pip install torch)"
        return None


class TorchScalar(_TorchContender):
    """The same scalar graph as regrad's: ``regrad.nn``'s MLP whose parameters
    are 0-d float64 tensors, ``moons_loss``, ``backward()``, an SGD loop."""
    key = "torch-scalar"
    label = "PyTorch, scalar graph"
    bytes_note = "n/a (C++)"

    def setup(self, work):
        from regrad.nn import MLP
        torch = self.torch = _torch()
        self.work = work

        def Var(val, req_grad=False, label=None):
            return torch.tensor(float(val), dtype=torch.float64, requires_grad=req_grad)

        random.seed(work.seed)
        self.model = MLP(2, work.sizes, engine=types.SimpleNamespace(Var=Var))
        self.params = self.model.parameters()

    def step(self, k):
        lr = learning_rate(k)
        w = self.work
        total, _ = moons_loss(self.model, w.X, w.y, w.alpha, lambda v: v.item())
        for p in self.params:
            p.grad = None
        total.backward()
        with self.torch.no_grad():
            for p in self.params:
                p.add_(p.grad, alpha=-lr)
        return total.item()


class TorchBatched(_TorchContender):
    """The same MLP as float64 matrices (2x16, 16x16, 16x1) and bias vectors,
    the same loss, one SGD step, one thread."""
    key = "torch-batched"
    label = "PyTorch, batched tensors"
    bytes_note = "n/a (tensors)"

    def setup(self, work):
        from .moons import build_model
        torch = self.torch = _torch()
        self.work = work
        model = build_model(work.hidden, seed=work.seed, engine="python")
        self.params = []
        for layer in model.layers:
            W = [[w.val for w in n.w] for n in layer.neurons]     # out x in
            self.params.append(torch.tensor(W, dtype=torch.float64).T.contiguous()
                               .requires_grad_())
            self.params.append(torch.tensor([n.b.val for n in layer.neurons],
                                            dtype=torch.float64).requires_grad_())
        self.X = torch.tensor(work.X, dtype=torch.float64)
        self.y = torch.tensor(work.y, dtype=torch.float64)

    def step(self, k):
        torch, lr, alpha = self.torch, learning_rate(k), self.work.alpha
        h = self.X
        n_layers = len(self.params) // 2
        for i in range(n_layers):
            h = h @ self.params[2 * i] + self.params[2 * i + 1]
            if i < n_layers - 1:
                h = torch.relu(h)
        scores = h[:, 0]
        data_loss = torch.relu(1 - self.y * scores).sum() * (1.0 / len(self.y))
        total = data_loss + alpha * sum((p * p).sum() for p in self.params) if alpha \
            else data_loss
        _ = ((self.y > 0) == (scores > 0)).sum().item() / len(self.y)   # accuracy
        for p in self.params:
            p.grad = None
        total.backward()
        with torch.no_grad():
            for p in self.params:
                p.add_(p.grad, alpha=-lr)
        return total.item()


class PlainFloats(Contender):
    """The forward pass on plain floats: ``regrad.nn``'s MLP and Layer classes
    as they are, holding floats, with a Neuron whose ``__call__`` is
    ``regrad.nn``'s on floats (``sum(map(mul, w, x), b)``, then relu as a
    conditional expression), and ``regrad.apps.moons.loss``'s arithmetic. No graph,
    no backward, no update: the floor for building the graph in Python."""
    key = "floats"
    label = "plain floats, forward only"
    has_graph = False
    bytes_note = "no graph"

    def setup(self, work):
        from regrad.nn import MLP, Neuron

        class FloatNeuron(Neuron):
            def __call__(self, x):
                act = sum(map(mul, self.w, x), self.b)
                return (act if act > 0.0 else 0.0) if self.is_nonlinear else act

        self.work = work
        random.seed(work.seed)
        floats = types.SimpleNamespace(Var=lambda val, req_grad=False, label=None: float(val))
        self.model = MLP(2, work.sizes, engine=floats)
        for layer in self.model.layers:
            for neuron in layer.neurons:
                neuron.__class__ = FloatNeuron
        self.params = self.model.parameters()

    def step(self, k):
        X, y, alpha = self.work.X, self.work.y, self.work.alpha
        scores = list(map(self.model, X))
        losses = []
        for yi, scorei in zip(y, scores):
            a = 1 + -yi * scorei
            losses.append(a if a > 0.0 else 0.0)
        data_loss = sum(losses) * (1.0 / len(losses))
        total = data_loss + alpha * sum((p * p for p in self.params)) if alpha else data_loss
        _ = sum((yi > 0) == (scorei > 0) for yi, scorei in zip(y, scores)) / len(y)
        return total


#: every contender, in table order; ``pure`` is the baseline of the speed-ups
CONTENDERS = (RegradCompiled, RegradReplay, RegradLanes, RegradPure, Micrograd, TorchScalar,
              TorchBatched, NumpyByHand, JaxJit, JaxLoop, CasadiSX, HandWrittenC, PlainFloats)
CONTENDER_KEYS = tuple(c.key for c in CONTENDERS)


# -------------------------------------------------------------- measuring

def _median(xs):
    return statistics.median(xs) if xs else math.nan


def _say(progress, text):
    if progress is not None:
        progress.write(text + "\n")
        progress.flush()


#: what ``--clock`` offers: the clock that times each step
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


class Usage:
    """Wall time and CPU time spent in timed code: their ratio says how much
    of a core the measured code got (on a busy machine, less than 1)."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def add(self, wall, cpu):
        self.wall += wall
        self.cpu += cpu

    @property
    def share(self):
        return self.cpu / self.wall if self.wall > 0 else math.nan


def _timed(fn, arg, clock, usage):
    w0, c0 = time.perf_counter(), time.process_time()
    if arg is None:
        fn()
    else:
        fn(arg)
    w1, c1 = time.perf_counter(), time.process_time()
    usage.add(w1 - w0, c1 - c0)
    return (c1 - c0) if clock == "cpu" else (w1 - w0), w1


def measure_steps(contenders, rounds=5, min_time=0.2, clock="cpu", progress=None,
                  usage=None):
    """Time ``step()`` of each (set-up) contender, interleaved: ``rounds``
    rounds, each running every contender for at least ``min_time`` seconds
    of wall time (and at least one step), in an order rotated every round.
    Each step is timed by ``clock``: ``"cpu"`` (this process's CPU time, so
    waiting for a core on a busy machine is not counted) or ``"wall"``.
    Returns ``{key: [median step time of each round, in seconds]}`` and
    ``{key: steps run}``; every contender's step counter continues from
    ``c.next_step``. A contender whose ``step(k)`` runs ``steps_per_call``
    steps (steps k, k+1, ...) is timed per call, divided by that. ``usage`` (a ``Usage``) adds up wall and CPU time."""
    usage = Usage() if usage is None else usage
    per_round = {c.key: [] for c in contenders}
    steps = {c.key: 0 for c in contenders}
    n = len(contenders)
    for r in range(rounds):
        _say(progress, f"  round {r + 1}/{rounds}")
        order = [contenders[(i + r) % n] for i in range(n)]
        for c in order:
            gc.collect()
            times = []
            start = time.perf_counter()
            per_call = getattr(c, "steps_per_call", 1)
            while True:
                t, end = _timed(c.step, c.next_step, clock, usage)
                c.next_step += per_call
                times.append(t / per_call)
                if end - start >= min_time:
                    break
            per_round[c.key].append(_median(times))
            steps[c.key] += len(times) * per_call
    return per_round, steps


def _round16(size):
    return size if size > 512 else -(-size // 16) * 16


def measure_bytes(contender):
    """Bytes held per node of ``contender``'s loss graph: ``(requested,
    rounded, nodes)``, or None without a graph. After ``gc.collect()``, the
    graph is built once under tracemalloc (started for this, so it sees only
    what the build allocates and still holds); ``requested`` is what those
    allocations asked for, ``rounded`` the same with each small block rounded
    up to pymalloc's 16-byte size classes."""
    if not contender.has_graph:
        return None
    if tracemalloc.is_tracing():
        raise RuntimeError("measure_bytes needs tracemalloc to be off: it starts it itself")
    hold = contender.drain()
    gc.collect()
    tracemalloc.start()
    try:
        root = contender.build_graph()
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    requested = rounded = 0
    for trace in snapshot.traces:
        requested += trace.size
        rounded += _round16(trace.size)
    del snapshot
    nodes = count_nodes(root, contender.inputs)
    del root, hold
    return requested / nodes, rounded / nodes, nodes


def measure_rss(contender, graphs=5):
    """Bytes of resident memory per node of ``contender``'s loss graph, or
    None (no graph, or no /proc/self/statm): the growth of the process's RSS
    while ``graphs`` loss graphs are built and held, divided by their nodes.
    Memory the process already holds for reuse (the compiled engine's pool,
    given back first; pymalloc's free pools, not) is not counted."""
    if not contender.has_graph or not os.path.exists("/proc/self/statm"):
        return None
    import regrad
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * page

    gc.collect()
    regrad.release_memory()
    before = rss()
    roots = [contender.build_graph() for _ in range(graphs)]
    grown = rss() - before
    nodes = count_nodes(roots[0], contender.inputs)
    del roots
    return grown / (graphs * nodes)


def measure_scaling(shapes=SCALING_SHAPES, sizes=SCALING_SIZES, rounds=3, min_time=0.1,
                    engine="cython", clock="cpu", progress=None, usage=None):
    """Build + backward + free of ``scaling_graph(shape, engine, size)``,
    interleaved over sizes: per shape, ``rounds`` rounds each running every
    size for at least ``min_time`` seconds of wall time (at least once),
    timed by ``clock`` (see ``measure_steps``). Returns
    ``{shape: {size: (nodes, [seconds per run, median of each round])}}``."""
    usage = Usage() if usage is None else usage
    out = {}
    for shape in shapes:
        _say(progress, f"  scaling: {shape}")
        graphs = [scaling_graph(shape, engine, n) for n in sizes]
        times = {g.size: [] for g in graphs}
        for r in range(rounds):
            order = graphs[r % len(graphs):] + graphs[:r % len(graphs)]
            for g in order:
                gc.collect()
                runs = []
                start = time.perf_counter()
                while True:
                    t, end = _timed(g.run, None, clock, usage)
                    runs.append(t)
                    if end - start >= min_time:
                        break
                times[g.size].append(_median(runs))
        out[shape] = {g.size: (g.nodes, times[g.size]) for g in graphs}
        del graphs
    return out


# ----------------------------------------------------------------- machine

def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _memory():
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return None


def _git_version():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.exists(os.path.join(here, ".git")):
        return None
    try:
        out = subprocess.run(["git", "-C", here, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _version(module):
    try:
        mod = __import__(module)
    except ImportError:
        return None
    v = getattr(mod, "__version__", None)
    if v is None:
        try:
            from importlib.metadata import version
            v = version(module)
        except Exception:
            v = "?"
    return str(v)


def machine_description():
    """One line on the machine (CPU, cores, memory, OS, Python) and one on the
    software (regrad and its git revision, the contenders' libraries)."""
    from regrad import __version__
    hw = [_cpu_model(), f"{os.cpu_count()} cores"]
    mem = _memory()
    if mem:
        hw.append(mem)
    hw.append(f"{platform.system()} {platform.release()} {platform.machine()}")
    hw.append(f"{platform.python_implementation()} {platform.python_version()}")
    git = _git_version()
    sw = [f"regrad {__version__}" + (f" (git {git})" if git else "")]
    for name in ("micrograd", "torch", "Cython"):
        v = _version(name)
        if v:
            sw.append(f"{name} {v}")
    return ", ".join(hw), ", ".join(sw)


def _load():
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


# ------------------------------------------------------------------ report

def _fmt_ms(seconds):
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def _fmt_ratio(x):
    if x is None or math.isnan(x):
        return "-"
    return f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def _paired_ratio(num, den):
    """Median over rounds of num[r] / den[r]."""
    return _median([a / b for a, b in zip(num, den) if b > 0])


class Report:
    """The results of one run: ``rows`` in table order (dicts), ``scaling``,
    ``targets`` (list of dicts), the machine, the workload."""

    def __init__(self, work, rows, scaling, targets, machine, notes, settings):
        self.work, self.rows, self.scaling, self.targets = work, rows, scaling, targets
        self.machine, self.notes, self.settings = machine, notes, settings

    def as_dict(self):
        return dict(workload=dict(samples=self.work.samples, hidden=list(self.work.hidden),
                                  noise=self.work.noise, seed=self.work.seed,
                                  alpha=self.work.alpha, nodes=self.settings.get("nodes")),
                    machine=list(self.machine), settings=self.settings, rows=self.rows,
                    scaling={s: {str(n): dict(nodes=nodes, seconds=t) for n, (nodes, t)
                                 in d.items()} for s, d in self.scaling.items()},
                    targets=self.targets, notes=self.notes)


def run_report(work=None, keys=CONTENDER_KEYS, rounds=5, min_time=0.2,
               scaling_shapes=SCALING_SHAPES, scaling_sizes=SCALING_SIZES,
               scaling_rounds=3, clock="cpu", progress=sys.stderr):
    """Measure everything; returns a ``Report``."""
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r}: expected 'cpu' or 'wall'")
    work = work or Workload()
    usage = Usage()
    load_start = _load()
    contenders, rows = [], []
    for cls in CONTENDERS:
        if cls.key not in keys:
            continue
        c = cls()
        row = dict(key=c.key, label=c.label, missing=c.missing())
        rows.append(row)
        if row["missing"] is None:
            _say(progress, f"setting up {c.label}")
            start = time.perf_counter()
            c.setup(work)
            row["first_loss"] = float(c.step(0))      # warm-up, and the cross-check
            c.next_step = getattr(c, "steps_per_call", 1)
            row["first_step"] = time.perf_counter() - start
            contenders.append(c)
    by_key = {c.key: c for c in contenders}

    notes = []
    nodes = None
    reference = by_key.get("compiled") or by_key.get("pure")
    if reference is not None:
        nodes = count_nodes(reference.build_graph())
    ref_loss = next((r["first_loss"] for r in rows if "first_loss" in r), None)
    for r in rows:
        if "first_loss" in r and ref_loss is not None:
            diff = abs(r["first_loss"] - ref_loss) / max(abs(ref_loss), 1e-300)
            if diff > 1e-9:
                notes.append(f"{r['label']}: first loss {r['first_loss']!r} differs from "
                             f"{ref_loss!r}: not the same computation")

    _say(progress, f"timing the moons step: {rounds} interleaved rounds")
    per_round, steps = measure_steps(contenders, rounds, min_time, clock, progress, usage)

    _say(progress, "measuring bytes per node")
    for r in rows:
        c = by_key.get(r["key"])
        if c is None:
            continue
        r["ms"] = _median(per_round[c.key]) * 1e3
        r["ms_min"] = min(per_round[c.key]) * 1e3
        r["ms_max"] = max(per_round[c.key]) * 1e3
        r["steps"] = steps[c.key]
        r["rounds"] = per_round[c.key]
        r["speedup"] = (_paired_ratio(per_round["pure"], per_round[c.key])
                        if "pure" in per_round else None)
        b = c.bytes_per_node()
        if b is None:
            r["bytes_note"] = c.bytes_note
        else:
            r["bytes"], r["bytes_rounded"], r["nodes"] = b
            rss = measure_rss(c) if c.key in ("compiled", "pure") else None
            if rss is not None:
                r["bytes_rss"] = rss
    contenders.clear()

    scaling = {}
    if scaling_shapes and scaling_sizes:
        _say(progress, "timing build + backward + free as graphs grow (compiled engine)")
        try:
            scaling = measure_scaling(scaling_shapes, scaling_sizes, scaling_rounds,
                                      min_time / 2, "cython", clock, progress, usage)
        except ImportError as exc:
            notes.append(f"scaling not measured: the compiled engine is not built ({exc})")

    targets = _targets(rows, per_round, scaling, work)
    load_end = _load()
    settings = dict(rounds=rounds, min_time=min_time, scaling_rounds=scaling_rounds,
                    nodes=nodes, load_start=load_start, load_end=load_end, clock=clock,
                    cpu_share=usage.share)
    return Report(work, rows, scaling, targets, machine_description(), notes, settings)


def _targets(rows, per_round, scaling, work):
    row = {r["key"]: r for r in rows}
    comp = row.get("compiled", {})
    out = []

    def add(text, value, shown, holds, why=None):
        out.append(dict(target=text, value=value, shown=shown,
                        holds=None if value is None else holds, why=why))

    t = TARGETS
    if "compiled" in per_round and "pure" in per_round:
        v = _paired_ratio(per_round["pure"], per_round["compiled"])
        add(f"step >= {t['speedup_vs_pure']:g}x faster than the pure engine", v,
            _fmt_ratio(v), v >= t["speedup_vs_pure"])
    else:
        add(f"step >= {t['speedup_vs_pure']:g}x faster than the pure engine", None, "-",
            None, "needs compiled and pure")
    if "compiled" in per_round and "floats" in per_round:
        v = _paired_ratio(per_round["compiled"], per_round["floats"])
        add(f"step <= {t['vs_floats']:g}x the plain-float forward", v, _fmt_ratio(v),
            v <= t["vs_floats"])
    else:
        add(f"step <= {t['vs_floats']:g}x the plain-float forward", None, "-", None,
            "needs compiled and floats")
    if "bytes" in comp:
        v = comp["bytes"]
        add(f"<= {t['bytes_per_node']:g} bytes held per node", v,
            f"{v:.1f} B ({comp['bytes_rounded']:.1f} B in 16-byte blocks)",
            v <= t["bytes_per_node"])
    else:
        add(f"<= {t['bytes_per_node']:g} bytes held per node", None, "-", None,
            "needs compiled")
    lo, hi = SCALING_TARGET_SIZES
    worst = None
    for shape, d in scaling.items():
        if lo in d and hi in d:
            (n_lo, t_lo), (n_hi, t_hi) = d[lo], d[hi]
            v = _median([(b / n_hi) / (a / n_lo) for a, b in zip(t_lo, t_hi)])
            if worst is None or v > worst[0]:
                worst = (v, shape)
    text = f"per-node cost at 10^6 nodes <= {t['scaling']:g}x that at 10^4"
    if worst is None:
        add(text, None, "-", None, "needs scaling sizes 10^4 and 10^6")
    else:
        add(text, worst[0], f"{_fmt_ratio(worst[0])} (worst shape: {worst[1]})",
            worst[0] <= t["scaling"])
    text = "replay: step faster than PyTorch, batched tensors"
    if "replay" in per_round and "torch-batched" in per_round:
        v = _paired_ratio(per_round["torch-batched"], per_round["replay"])
        add(text, v, f"PyTorch's time / replay's: {_fmt_ratio(v)}", v > t["replay_vs_torch"])
    else:
        add(text, None, "-", None, "needs replay and torch-batched")
    text = f"replay: step <= {t['replay_ns_per_node']:g} ns per node"
    nodes = row.get("replay", {}).get("nodes")
    if "replay" in per_round and nodes:
        v = _median(per_round["replay"]) / nodes * 1e9
        add(text, v, f"{v:.2f} ns ({nodes:,} nodes)", v <= t["replay_ns_per_node"])
    else:
        add(text, None, "-", None, "needs replay")
    text = f"lanes: step <= {t['lanes_vs_jax']:g}x JAX jit(grad)'s, loss read at the end"
    if "lanes" in per_round and "jax-loop" in per_round:
        v = _paired_ratio(per_round["lanes"], per_round["jax-loop"])
        add(text, v, f"lanes' time / JAX's: {_fmt_ratio(v)}", v <= t["lanes_vs_jax"])
    else:
        add(text, None, "-", None, "needs lanes and jax-loop")
    text = f"lanes: step <= {t['lanes_vs_c']:g}x the hand-written C step"
    if "lanes" in per_round and "c" in per_round:
        v = _paired_ratio(per_round["lanes"], per_round["c"])
        add(text, v, f"lanes' time / C's: {_fmt_ratio(v)}", v <= t["lanes_vs_c"])
    else:
        add(text, None, "-", None, "needs lanes and c")
    text = "lanes: step faster than NumPy, hand-written backward"
    if "lanes" in per_round and "numpy" in per_round:
        v = _paired_ratio(per_round["numpy"], per_round["lanes"])
        add(text, v, f"NumPy's time / lanes': {_fmt_ratio(v)}", v > t["lanes_vs_numpy"])
    else:
        add(text, None, "-", None, "needs lanes and numpy")
    if not work.is_default:
        for tg in out:
            tg["why"] = (tg["why"] + "; " if tg["why"] else "") + "not the default moons step"
    return out


def format_report(rep):
    """The report as text: the step table, notes, scaling, targets, machine."""
    w = rep.work
    lines = []
    nodes = rep.settings.get("nodes")
    lines.append(f"regrad bench: one moons step = {w.describe()}"
                 + (f"; {nodes:,} graph nodes" if nodes else ""))
    clock = ("CPU time of this process" if rep.settings.get("clock", "cpu") == "cpu"
             else "wall-clock time")
    lines.append(f"{rep.settings['rounds']} interleaved rounds (order rotated each round, "
                 f">= {rep.settings['min_time']:g} s per contender per round); medians of "
                 f"{clock}")
    lines.append("")
    head = ("contender", "ms/step", "min-max over rounds", "vs pure", "bytes/node",
            "first step ms", "steps")
    table = [head]
    for r in rep.rows:
        if r["missing"]:
            table.append((r["label"], r["missing"], "", "", "", "", ""))
            continue
        if "ms" not in r:
            continue
        b = f"{r['bytes']:.1f}" if "bytes" in r else r.get("bytes_note", "n/a")
        table.append((r["label"], _fmt_ms(r["ms"] / 1e3),
                      f"{_fmt_ms(r['ms_min'] / 1e3)}-{_fmt_ms(r['ms_max'] / 1e3)}",
                      _fmt_ratio(r["speedup"]) if r.get("speedup") is not None else "-",
                      b, _fmt_first(r), str(r["steps"])))
    widths = [max(len(row[i]) for row in table if row[2] or i == 0) for i in range(len(head))]
    for i, row in enumerate(table):
        if not row[2] and i:      # a contender that did not run: its reason spans the row
            lines.append(f"{row[0]:<{widths[0]}}  {row[1]}")
            continue
        cells = [f"{row[0]:<{widths[0]}}"] + [f"{c:>{wd}}" for c, wd in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
        if i == 0:
            lines.append("  ".join("-" * wd for wd in widths))
    lines.append("")
    lines.append("ms/step: one whole step (build the loss graph, zero_grad, backward, SGD "
                 "update); plain floats: the forward pass only. vs pure: the pure engine's "
                 "time over this one, median of per-round ratios.")
    lines.append("first step: wall time from nothing to the first step done (building the "
                 "model, recording or compiling, the first step), once, untimed by rounds.")
    lines.append("bytes/node: tracemalloc over building the loss graph, divided by its nodes "
                 "(constants and leaves included); PyTorch's C++ allocations are invisible to "
                 "tracemalloc, so no number is given for it.")
    rounded = [f"{r['label']} {r['bytes_rounded']:.1f}" for r in rep.rows if "bytes_rounded" in r]
    if rounded:
        lines.append("with pymalloc's 16-byte block rounding: " + ", ".join(rounded) + ".")
    rss = [f"{r['label']} {r['bytes_rss']:.1f}" for r in rep.rows if "bytes_rss" in r]
    if rss:
        lines.append("by RSS (growth while 5 loss graphs are held, over their nodes): "
                     + ", ".join(rss) + ".")
    for n in rep.notes:
        lines.append("note: " + n)
    if rep.scaling:
        lines.append("")
        lines.append("build + backward + free, compiled engine: ns per node "
                     f"(median of {rep.settings['scaling_rounds']} interleaved rounds)")
        sizes = sorted({n for d in rep.scaling.values() for n in d})
        hdr = ["graph"] + [f"~10^{round(math.log10(n))}" if _is_pow10(n) else f"{n:,}"
                           for n in sizes]
        rows = [hdr]
        for shape, d in rep.scaling.items():
            cells = [_SHAPE_NAMES.get(shape, shape)]
            for n in sizes:
                if n in d:
                    nodes_n, t = d[n]
                    cells.append(f"{_median(t) / nodes_n * 1e9:.0f}")
                else:
                    cells.append("-")
            rows.append(cells)
        wd = [max(len(r[i]) for r in rows) for i in range(len(hdr))]
        for i, r in enumerate(rows):
            lines.append("  ".join([f"{r[0]:<{wd[0]}}"] +
                                   [f"{c:>{x}}" for c, x in zip(r[1:], wd[1:])]))
            if i == 0:
                lines.append("  ".join("-" * x for x in wd))
    lines.append("")
    lines.append("targets for the compiled engine, this run:")
    tw = max(len(t["target"]) for t in rep.targets)
    sw_ = max(len(t["shown"]) for t in rep.targets)
    for t in rep.targets:
        extra = f" ({t['why']})" if t.get("why") else ""
        lines.append(f"  {t['target']:<{tw}}  {t['shown']:<{sw_}}  {_verdict(t)}{extra}")
    lines.append("")
    hw, sw = rep.machine
    lines.append(f"machine: {hw}")
    load = [rep.settings.get("load_start"), rep.settings.get("load_end")]
    lines.append(f"software: {sw}")
    busy = []
    if None not in load:
        busy.append(f"load average {load[0]:.2f} at start, {load[1]:.2f} at end")
    share = rep.settings.get("cpu_share")
    if share is not None and not math.isnan(share):
        busy.append(f"the timed code got {min(share, 1.0):.0%} of a core "
                    "(CPU time / wall time)")
    if busy:
        lines.append("busy: " + "; ".join(busy))
    if share is not None and share < 0.9:
        lines.append("(other processes were using the cores: CPU times still rise with the "
                     "contention for caches; compare ratios, and rerun with more --rounds)")
    return "\n".join(lines)


def format_markdown(rep):
    """The step table, the targets and the machine as Markdown (for a README)."""
    lines = ["| contender | ms/step | min-max over rounds | vs pure | bytes/node "
             "| first step, ms |", "|---|--:|--:|--:|--:|--:|"]
    for r in rep.rows:
        if r["missing"]:
            lines.append(f"| {r['label']} | {r['missing']} | | | | |")
        elif "ms" in r:
            b = f"{r['bytes']:.1f}" if "bytes" in r else r.get("bytes_note", "n/a")
            sp = _fmt_ratio(r["speedup"]) if r.get("speedup") is not None else "-"
            lines.append(f"| {r['label']} | {_fmt_ms(r['ms'] / 1e3)} | "
                         f"{_fmt_ms(r['ms_min'] / 1e3)}-{_fmt_ms(r['ms_max'] / 1e3)} | "
                         f"{sp} | {b} | {_fmt_first(r)} |")
    lines += ["", "| target for the compiled engine | this run | |", "|---|---|---|"]
    for t in rep.targets:
        lines.append(f"| {t['target']} | {t['shown']} | {_verdict(t)} |")
    if rep.scaling:
        sizes = sorted({n for d in rep.scaling.values() for n in d})
        lines += ["", "| build + backward + free, ns per node | "
                  + " | ".join(f"~10^{round(math.log10(n))} nodes" if _is_pow10(n)
                               else f"~{n:,} nodes" for n in sizes) + " |",
                  "|---|" + "--:|" * len(sizes)]
        for shape, d in rep.scaling.items():
            cells = [f"{_median(d[n][1]) / d[n][0] * 1e9:.0f}" if n in d else "-"
                     for n in sizes]
            lines.append(f"| {_SHAPE_NAMES.get(shape, shape)} | " + " | ".join(cells) + " |")
    hw, sw = _machine_lines(rep)
    lines += ["", f"Machine: {hw}; {sw}."]
    return "\n".join(lines)


def _fmt_first(row):
    t = row.get("first_step")
    return "-" if t is None else _fmt_ms(t)


_SHAPE_NAMES = {"chain": "chain (y = y*w + b)", "sum": "wide sum(xs)", "mlp": "MLP moons loss"}


def _is_pow10(n):
    return n > 0 and 10 ** round(math.log10(n)) == n


# ----------------------------------------------------------------- picture

_COLORS = {"compiled": "#1f4e9a", "replay": "#3a7bd5", "pure": "#8fb3e8",
           "micrograd": "#c97b2a", "torch-scalar": "#d9534f", "torch-batched": "#a33",
           "floats": "#7a7a7a"}


def _bars(rep):
    return [r for r in rep.rows if "ms" in r]


def _picture_title(rep):
    nodes = rep.settings.get("nodes")
    sizes = ", ".join(map(str, rep.work.sizes))
    return (f"regrad bench: one moons step, MLP(2, [{sizes}]), {rep.work.samples} points"
            + (f", {nodes:,} nodes" if nodes else ""))


def _verdict(t):
    return "not measured" if t["holds"] is None else "holds" if t["holds"] else "MISSED"


def _target_lines(rep):
    return [f"{t['target']}: {t['shown']}, {_verdict(t)}" for t in rep.targets]


def _machine_lines(rep):
    hw, sw = rep.machine
    share = rep.settings.get("cpu_share")
    if share is not None and not math.isnan(share):
        sw += f"; the timed code got {min(share, 1.0):.0%} of a core"
    return [hw, sw]


def _bar_text(r):
    text = f"{_fmt_ms(r['ms'] / 1e3)} ms"
    if r["key"] == "pure":
        text += "  (the baseline)"
    elif r.get("speedup") is not None and r["speedup"] >= 1:
        text += f"  ({_fmt_ratio(r['speedup'])} faster than pure)"
    elif r.get("speedup"):
        text += f"  ({_fmt_ratio(1 / r['speedup'])} slower than pure)"
    return text


def save_picture(rep, path):
    """Write the step table as a bar chart (log scale): PNG through matplotlib,
    SVG (or HTML around it) by hand."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".png":
        _save_png(rep, path)
        return
    svg = bench_svg(rep)
    if ext in (".html", ".htm"):
        from xml.sax.saxutils import escape
        text = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{escape(_picture_title(rep))}</title>\n</head>\n<body>\n{svg}\n"
                "</body>\n</html>\n")
    else:
        text = '<?xml version="1.0" encoding="UTF-8"?>\n' + svg
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _save_png(rep, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    bars = _bars(rep)
    n = max(1, len(bars))
    targets = ["targets for the compiled engine, this run:"] + [
        "  " + t for t in _target_lines(rep)]
    # heights in inches: title block, bars, axis label, targets
    head, row, axis, line = 0.95, 0.42, 0.55, 0.19
    height = head + row * n + axis + line * len(targets) + 0.2
    fig = Figure(figsize=(10, height), dpi=110)
    FigureCanvasAgg(fig)
    bottom = (axis + line * len(targets) + 0.2) / height
    ax = fig.add_axes([0.24, bottom, 0.74, row * n / height])
    ys = list(range(len(bars)))[::-1]
    ms = [r["ms"] for r in bars]
    lo = [r["ms"] - r["ms_min"] for r in bars]
    hi = [r["ms_max"] - r["ms"] for r in bars]
    colors = [_COLORS.get(r["key"], "#555") for r in bars]
    ax.barh(ys, ms, color=colors, height=0.64, xerr=[lo, hi],
            error_kw=dict(ecolor="#333", lw=0.8, capsize=2))
    ax.set_xscale("log")
    left = math.log10(min(r["ms_min"] for r in bars) / 2.5)
    right = math.log10(max(r["ms_max"] for r in bars))
    ax.set_xlim(10 ** left, 10 ** (right + 0.6 * max(right - left, 1.0)))   # room for text
    ax.set_ylim(-0.6, len(bars) - 0.4)
    ax.xaxis.set_major_locator(FixedLocator(
        [10.0 ** e for e in range(math.floor(left), math.ceil(right) + 1)]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(ys)
    ax.set_yticklabels([r["label"] for r in bars])
    for y, r in zip(ys, bars):
        ax.text(r["ms_max"] * 1.12, y, _bar_text(r), va="center", fontsize=9)
    clock = "CPU time" if rep.settings.get("clock", "cpu") == "cpu" else "wall-clock time"
    ax.set_xlabel(f"milliseconds per step, log scale ({clock}; bar: median over "
                  f"{rep.settings['rounds']} interleaved rounds, whiskers: min-max)",
                  fontsize=9)
    ax.grid(axis="x", which="major", color="#ddd", lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    top = 1 - 0.12 / height
    fig.text(0.5, top, _picture_title(rep), ha="center", va="top", fontsize=11.5)
    fig.text(0.5, top - 0.3 / height, "\n".join(_machine_lines(rep)), ha="center", va="top",
             fontsize=7.5, color="#555")
    fig.text(0.03, 0.12 / height, "\n".join(targets), ha="left", va="bottom",
             fontsize=8.5, family="monospace", color="#222", linespacing=1.35)
    fig.savefig(path)


def bench_svg(rep):
    """The bar chart as a self-contained SVG string (no dependency)."""
    from xml.sax.saxutils import escape
    bars = _bars(rep)
    width, label_w, row_h = 900, 210, 30
    top = 78
    plot_w = width - label_w - 250
    height = top + row_h * max(1, len(bars)) + 60 + 16 * len(rep.targets)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">'
             f'{escape(_picture_title(rep))}</text>']
    hw, sw = _machine_lines(rep)
    parts.append(f'<text x="{width / 2}" y="38" text-anchor="middle" font-size="10" '
                 f'fill="#555">{escape(hw)}</text>')
    parts.append(f'<text x="{width / 2}" y="52" text-anchor="middle" font-size="10" '
                 f'fill="#555">{escape(sw)}</text>')
    if bars:
        lo = math.floor(math.log10(min(r["ms"] for r in bars) / 2))
        hi = math.ceil(math.log10(max(r["ms_max"] for r in bars) * 1.01))
        hi = max(hi, lo + 1)

        def x_of(ms):
            return label_w + (math.log10(ms) - lo) / (hi - lo) * plot_w

        bottom = top + row_h * len(bars)
        for e in range(lo, hi + 1):
            x = x_of(10.0 ** e)
            parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" '
                         'stroke="#ddd"/>')
            label = f"{10.0 ** e:g}"
            parts.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" '
                         f'font-size="10">{label}</text>')
        parts.append(f'<text x="{label_w + plot_w / 2}" y="{bottom + 30}" '
                     'text-anchor="middle" font-size="11">milliseconds per step (log scale; '
                     'bars: median over rounds, whiskers: min-max)</text>')
        for i, r in enumerate(bars):
            y = top + i * row_h
            x0, x1 = label_w, x_of(r["ms"])
            color = _COLORS.get(r["key"], "#555")
            parts.append(f'<text x="{label_w - 8}" y="{y + row_h / 2 + 4}" '
                         f'text-anchor="end">{escape(r["label"])}</text>')
            parts.append(f'<rect x="{x0}" y="{y + 5}" width="{max(1.0, x1 - x0):.1f}" '
                         f'height="{row_h - 10}" fill="{color}"/>')
            a, b = x_of(r["ms_min"]), x_of(r["ms_max"])
            parts.append(f'<line x1="{a:.1f}" y1="{y + row_h / 2}" x2="{b:.1f}" '
                         f'y2="{y + row_h / 2}" stroke="#333"/>')
            parts.append(f'<text x="{b + 6:.1f}" y="{y + row_h / 2 + 4}">'
                         f'{escape(_bar_text(r))}</text>')
        ty = bottom + 52
    else:
        ty = top + 20
    for i, line in enumerate(["targets for the compiled engine:"] + _target_lines(rep)):
        parts.append(f'<text x="12" y="{ty + 16 * i}" font-family="monospace" '
                     f'font-size="11">{escape(line)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


# --------------------------------------------------------------------- CLI

_contenders = names_from(CONTENDER_KEYS, "contender")
_shapes = names_from(SCALING_SHAPES, "graph shape")


def _node_counts(text):
    sizes = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected node counts such as 1e4,1e6, got {part!r}") from None
        if not math.isfinite(value) or value != int(value) or not 10 <= value <= 10**8:
            raise argparse.ArgumentTypeError(
                f"a node count must be a whole number from 10 to 1e8, got {part}")
        sizes.append(int(value))
    if not sizes:
        raise argparse.ArgumentTypeError("expected node counts such as 1e4,1e6")
    return sorted(set(sizes))


def add_parser(subparsers):
    """Register the ``bench`` subcommand on an argparse ``subparsers``."""
    keys = ", ".join(CONTENDER_KEYS)
    p = subparsers.add_parser(
        "bench", help="compare regrad's engines, micrograd and PyTorch on the moons step",
        description="Time the moons training step (MLP(2, [16, 16, 1]), 100 points, hinge "
                    "loss + L2, SGD) in one process, interleaved, for regrad's compiled and "
                    "pure engines, micrograd, PyTorch (scalar graph and batched) and the same "
                    "forward pass on plain floats; print ms per step, speed-up over the pure "
                    "engine and bytes held per node, the cost per node as graphs grow, and "
                    "whether the compiled engine meets its targets; write a bar chart. "
                    f"Contenders: {keys}.",
        epilog="example: python -m regrad bench --rounds 9 --skip torch-scalar --out bench.svg")
    p.add_argument("--rounds", type=positive_int, default=5, metavar="N",
                   help="interleaved rounds over the contenders (default: %(default)s)")
    p.add_argument("--min-time", type=nonnegative, default=0.2, metavar="SEC",
                   help="time each contender runs per round, at least one step "
                        "(default: %(default)s)")
    p.add_argument("--only", type=_contenders, default=None, metavar="NAMES",
                   help=f"run only these contenders, comma-separated ({keys})")
    p.add_argument("--skip", type=_contenders, default=[], metavar="NAMES",
                   help="leave these contenders out, comma-separated")
    p.add_argument("--samples", type=positive_int, default=WORKLOAD["samples"], metavar="N",
                   help="points per step (default: %(default)s; the targets are for 100)")
    p.add_argument("--hidden", type=layer_sizes, default=list(WORKLOAD["hidden"]), metavar="SIZES",
                   help="hidden layer sizes (default: 16,16)")
    p.add_argument("--scaling-sizes", type=_node_counts, default=list(SCALING_SIZES),
                   metavar="COUNTS",
                   help="graph sizes for the scaling runs, in nodes (default: 1e3,1e4,1e5,1e6)")
    p.add_argument("--scaling-shapes", type=_shapes, default=list(SCALING_SHAPES),
                   metavar="SHAPES", help="graphs for the scaling runs (default: chain,sum,mlp)")
    p.add_argument("--scaling-rounds", type=positive_int, default=3, metavar="N",
                   help="interleaved rounds of the scaling runs (default: %(default)s)")
    p.add_argument("--no-scaling", action="store_true", help="skip the scaling runs")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                   help="time steps by this process's CPU time (default: waiting for a core "
                        "on a busy machine is not counted) or by wall-clock time")
    p.add_argument("--out", metavar="PATH", default=None,
                   help="picture file: .png (needs matplotlib), .svg or .html; a directory "
                        "gets bench.png/.svg inside (default: bench.png in the working "
                        "directory, or bench.svg without matplotlib)")
    p.add_argument("--no-picture", action="store_true", help="do not write a picture")
    p.add_argument("--json", metavar="PATH", default=None,
                   help="also write the results as JSON to PATH")
    p.add_argument("--markdown", action="store_true",
                   help="also print the tables as Markdown (for the README)")
    p.add_argument("--record", nargs="?", const=history.DEFAULT_PATH, default=None,
                   metavar="PATH", help="append this run to a history file (default: "
                   f"{history.DEFAULT_PATH})")
    p.add_argument("--history", nargs="?", const=history.DEFAULT_PATH, default=None,
                   metavar="PATH", help="run nothing: draw steps per second over the runs "
                   f"recorded in PATH (default: {history.DEFAULT_PATH}) into --out "
                   "(default bench_history.svg) and print them")
    p.set_defaults(run=run)
    return p


def _fail(message):
    raise SystemExit(f"python -m regrad bench: error: {message}")


def run(args):
    """The ``bench`` subcommand. Returns the exit status."""
    import json

    from . import plot
    if args.history is not None:
        return _draw_history(args)
    keys = [k for k in (args.only or CONTENDER_KEYS) if k not in args.skip]
    if not keys:
        _fail("no contender left to run (--only and --skip exclude them all)")
    out = None
    if not args.no_picture:
        try:
            out = plot.picture_path(args.out, "bench")
        except ValueError as exc:
            _fail(str(exc))
    if args.json:
        parent = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(parent):
            _fail(f"cannot write {args.json!r}: no directory {parent}")
    work = Workload(samples=args.samples, hidden=args.hidden)
    rep = run_report(work, keys, args.rounds, args.min_time,
                     [] if args.no_scaling else args.scaling_shapes,
                     [] if args.no_scaling else args.scaling_sizes,
                     args.scaling_rounds, args.clock)
    print(format_report(rep), flush=True)
    if args.markdown:
        print("\n" + format_markdown(rep), flush=True)
    if out is not None:
        try:
            save_picture(rep, out)
        except OSError as exc:
            _fail(f"cannot write the picture {out}: {exc.strerror or exc}")
        print(f"picture: {os.path.abspath(out)}")
    if args.json:
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(rep.as_dict(), f, indent=1)
        except OSError as exc:
            _fail(f"cannot write {args.json}: {exc.strerror or exc}")
        print(f"json: {os.path.abspath(args.json)}")
    if args.record:
        try:
            history.append(args.record, history.entry(rep.as_dict()))
        except OSError as exc:
            _fail(f"cannot append to {args.record}: {exc.strerror or exc}")
        print(f"recorded in {os.path.abspath(args.record)}")
    return 0


def _draw_history(args):
    try:
        runs = history.load(args.history)
    except OSError as exc:
        _fail(f"cannot read {args.history}: {exc.strerror or exc}")
    except ValueError as exc:
        _fail(str(exc))
    if not runs:
        _fail(f"{args.history} holds no run yet: record one with --record")
    print(history.table(runs))
    out = args.out or "bench_history.svg"
    if not out.lower().endswith(".svg"):
        _fail(f"--out {out!r}: the history is drawn as .svg")
    try:
        with open(out, "w", encoding="utf-8") as f:
            f.write(history.svg(runs))
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}")
    print(f"picture: {os.path.abspath(out)}")
    return 0
