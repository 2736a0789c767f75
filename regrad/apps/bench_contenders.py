"""The contenders of the report: each a small class with ``setup()`` and
``step()`` that runs the moons step one way (see ``regrad.apps.bench``)."""
import gc
import importlib
import os
import random
import subprocess
import tracemalloc
import types
from operator import mul

from .bench_workload import count_nodes, learning_rate, moons_loss
from .bench_measuring import _round16, measure_bytes


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
    needs = ()            # the modules it imports; one missing: "not installed"

    def missing(self):
        """None when this contender can run here, else why not (shown in the table)."""
        try:
            for module in self.needs:
                importlib.import_module(module)
        except ImportError:
            names = " ".join(module.split(".")[0] for module in self.needs)
            return f"not installed (pip install {names})"
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
    replays the tape: zero_grad, ``tape.forward()``, ``tape.backward()``, and the
    update by ``regrad.optim.SGD`` (``p.val - lr * p.grad`` in one C loop, as the
    moons job's ``ReplayStep``), so no Python runs per parameter."""
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
        from regrad.optim import SGD
        root = loss(self.model, work.X, work.y, work.alpha)[0]
        self.tape = regrad.compile(root)
        self.sgd = SGD(self.params, lr=0.0)

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
        self.sgd.zero_grad()      # backward adds into 0.0 from None as from 0.0
        value = self.tape.forward()
        self.tape.backward()
        self.sgd.param_groups[0]["lr"] = learning_rate(k)
        self.sgd.step()
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
    needs = ("numpy",)

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
    needs = ("jax",)

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
    needs = ("casadi", "numpy")

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
    needs = ("micrograd.nn",)

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
    needs = ("torch",)


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
