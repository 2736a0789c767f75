"""Lanes: one sample's graph run over a batch of samples.

``batch = regrad.compile(root, inputs=[x0, x1, t])`` records the graph under
``root`` (built for one sample) and returns a ``BatchTape`` that runs it over
N samples at once::

    losses = batch.forward(data)   # N rows of (x0, x1, t): a float64 buffer or rows
    batch.backward(1 / N)          # adds sum_i dy_i * d(out_i)/d(p) into each p.grad

Each sample is a *lane*. The leaves listed in ``inputs`` take each lane's
values from ``data``; the leaves that require grad and are not inputs (the
parameters) are shared by all lanes and receive the sum of the lanes'
gradients; the other leaves are constants. Which leaves are parameters is
fixed when the tape is made.

**Inputs must be recorded.** The dynamic engine folds an operation whose
inputs all lack ``req_grad`` into a constant (``2 * x`` keeps no link to
``x``). So make the input Vars with ``req_grad=True`` (they stay per-sample
values: their gradients are the per-lane ``input_grads``, never ``.grad``);
or, with inputs that do not require grad, let every use of an input meet a
parameter first (``w * x``, not ``2 * x`` nor ``x * y``). ``compile`` raises
``ValueError`` naming an input that is not in the graph at all, but cannot
see a use that was folded while another use was recorded.

**Same numbers as the dynamic engine.** A lane runs the replay tape's schedule
(``regrad.replay``) with the same operator kernels, so each lane's values are
those of the dynamic engine on that sample, to the bit. A parameter's
gradient is added up lane by lane from the last lane down to lane 0, each
lane's contributions in the tape's order, starting from the parameter's
``.grad``: the order in which ``sum(outs).backward()`` on the N samples' graphs
adds them (``sum`` makes the last sample's graph the first one backward
reaches). So the gradients are the dynamic engine's too, whatever the block
size or the number of threads of the compiled tape.

**Errors.** A domain error in a lane raises the dynamic engine's exception,
of the same type, its message prefixed with ``sample i: `` (the first
failing sample; within it, the node made first, as in ``regrad.replay``).

This module is the pure-Python tape, the readable reference, over Python
lists; ``regrad/_lanes.pyx`` is the compiled one, with the same API, the same
checks and the same numbers.
"""
import numbers
from array import array

from . import ops
from ._messages import type_name as _type_name
from .replay import Tape

__all__ = ["BatchTape"]


# ---------------------------------------- checks and messages (both tapes use them)

def _option_int(value, name, allow_none):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"regrad.compile: {name} must be a positive int, not "
                        f"{_type_name(value)}")
    if value < 1:
        raise ValueError(f"regrad.compile: {name} must be at least 1, not {value}")
    return int(value)


def check_options(threads, block):
    """``threads`` (>= 1) and ``block`` (None or >= 1) as ints, or the error."""
    return _option_int(threads, "threads", False), _option_int(block, "block", True)


def check_outputs(outputs, var_type):
    """The outputs as a tuple of results of ``var_type`` (leaves have no lane
    values of their own to report)."""
    outputs = tuple(outputs)
    for i, o in enumerate(outputs):
        if not isinstance(o, var_type):
            raise TypeError(f"regrad.compile: outputs[{i}] must be a "
                            f"{var_type.__module__}.Var, not {_type_name(o)}")
        if o.op is None:
            raise ValueError(f"regrad.compile: outputs[{i}] is a leaf: with inputs, "
                             "outputs are results of the graph")
    return outputs


def check_inputs(root, inputs, var_type):
    """The inputs as a tuple of leaf Vars of ``var_type``, distinct and all
    reachable from ``root`` as leaves of its graph; raises TypeError or
    ValueError naming the first bad one. Runs before recording, so that a
    refused call leaves the graph as it was."""
    if not isinstance(root, var_type):
        raise TypeError(f"regrad.compile: expected a {var_type.__module__}.Var, "
                        f"not {_type_name(root)}")
    if not root.req_grad:
        raise RuntimeError(ops.NO_GRAD_MESSAGE)
    if isinstance(inputs, (str, bytes)):
        raise TypeError(f"regrad.compile: inputs must be a sequence of leaf Vars, "
                        f"not {_type_name(inputs)}")
    try:
        inputs = tuple(inputs)
    except TypeError:
        raise TypeError(f"regrad.compile: inputs must be a sequence of leaf Vars, "
                        f"not {_type_name(inputs)}") from None
    if not inputs:
        raise ValueError("regrad.compile: inputs is empty: list the leaves that hold "
                         "one sample's values")
    seen = {}
    for i, x in enumerate(inputs):
        if not isinstance(x, var_type):
            raise TypeError(f"regrad.compile: inputs[{i}] must be a "
                            f"{var_type.__module__}.Var, not {_type_name(x)}")
        if x.op is not None:
            raise ValueError(f"regrad.compile: inputs[{i}] is not a leaf (a {x.name} "
                             "result): inputs are the leaves that hold a sample's values")
        if id(x) in seen:
            raise ValueError(f"regrad.compile: inputs[{i}] repeats inputs[{seen[id(x)]}]")
        seen[id(x)] = i
    if root.op is None:
        raise ValueError("regrad.compile: with inputs, the root must be an operation's "
                         "result, not a leaf")
    leaves = _graph_leaves(root)
    if leaves is not None:                 # None: released, recording will say so
        for i, x in enumerate(inputs):
            if id(x) not in leaves:
                raise ValueError(
                    f"regrad.compile: inputs[{i}] is not a leaf of the root's graph: the "
                    "engine folds an operation on Vars that do not require grad into a "
                    "constant; make the inputs with req_grad=True, or let each meet a "
                    "parameter first (w * x, not 2 * x)")
    return inputs


def _graph_leaves(root):
    """The ids of the leaves under ``root`` as a tape records them (through
    results that require grad), or None if part of the graph was released."""
    leaves, seen, stack = set(), {id(root)}, [root]
    while stack:
        node = stack.pop()
        src = node.src
        if src is None:
            return None
        for x in src:
            if x.op is not None and x.req_grad:
                if id(x) not in seen:
                    seen.add(id(x))
                    stack.append(x)
            else:
                leaves.add(id(x))
    return leaves


def _is_float64(fmt):
    return fmt in ("d", "@d", "=d", "<d")


def buffer_rows(fmt, c_contiguous, shape, nbytes, k, what):
    """The number of rows of ``k`` float64 values in a buffer, or the error.
    ``what``: "data" (rows of k inputs) or "dy" (k == 1: one weight a lane)."""
    if not _is_float64(fmt):
        raise TypeError(f"{what}: a buffer must hold float64 (format 'd'), not format "
                        f"{fmt!r}; convert it, e.g. numpy.asarray({what}, dtype=float)")
    if not c_contiguous:
        raise TypeError(f"{what}: a buffer must be C-contiguous; copy it, e.g. "
                        f"numpy.ascontiguousarray({what})")
    count = nbytes // 8
    if len(shape) == 2 and shape[1] != k:
        raise ValueError(f"{what}: rows of {shape[1]} values, not {k}")
    if len(shape) not in (1, 2) or count % k:
        raise ValueError(f"{what}: {count} values do not make rows of {k} "
                         f"(shape {tuple(shape)})")
    if count == 0:
        raise ValueError(f"{what}: no samples")
    return count // k


def rows_to_floats(data, k):
    """A sequence of rows of ``k`` real numbers (a number per row when k == 1)
    as one flat list of floats, or the error."""
    if isinstance(data, (str, bytes)):
        raise TypeError("data must be a float64 buffer or a sequence of rows, not "
                        f"{_type_name(data)}")
    try:
        rows = list(data)
    except TypeError:
        raise TypeError("data must be a float64 buffer or a sequence of rows, not "
                        f"{_type_name(data)}") from None
    if not rows:
        raise ValueError("data: no samples")
    flat = []
    for i, row in enumerate(rows):
        if k == 1 and isinstance(row, numbers.Real):
            row = (row,)
        elif isinstance(row, (str, bytes)):
            raise TypeError(f"data[{i}] must be a row of {k} numbers, not {_type_name(row)}")
        else:
            try:
                row = tuple(row)
            except TypeError:
                raise TypeError(f"data[{i}] must be a row of {k} numbers, not "
                                f"{_type_name(row)}") from None
        if len(row) != k:
            raise ValueError(f"data[{i}] has {len(row)} values, not {k}")
        for j, x in enumerate(row):
            if type(x) is float:
                flat.append(x)
            elif isinstance(x, numbers.Real):
                flat.append(float(x))
            else:
                raise TypeError(f"data[{i}][{j}] must be a real number, not {_type_name(x)}")
    return flat


def weights_to_floats(dy, n):
    """``dy`` of backward(): None (1.0), a real number for every lane, or n
    weights (a sequence of numbers; float64 buffers are read by the callers).
    Returns a float or a list of n floats."""
    if dy is None:
        return 1.0
    if isinstance(dy, numbers.Real):
        return float(dy)
    if isinstance(dy, (str, bytes)):
        raise TypeError(f"dy must be a real number or {n} weights, not {_type_name(dy)}")
    try:
        ws = list(dy)
    except TypeError:
        raise TypeError(f"dy must be a real number or {n} weights, not "
                        f"{_type_name(dy)}") from None
    if len(ws) != n:
        raise ValueError(f"dy: {len(ws)} weights for {n} samples")
    out = []
    for i, w in enumerate(ws):
        if isinstance(w, numbers.Real):
            out.append(float(w))
        else:
            raise TypeError(f"dy[{i}] must be a real number, not {_type_name(w)}")
    return out


NO_VALUES_MESSAGE = "output_values: no successful forward() yet"
NO_FORWARD_MESSAGE = "backward(): no successful forward() yet: nothing to differentiate"


def lane_error(i, e):
    """The dynamic engine's exception ``e``, naming sample ``i``."""
    return type(e)(f"sample {i}: {e}")


def batch_repr(size, n_leaves, n_inputs, n_shared, engine):
    return (f"<regrad BatchTape: {size} nodes a sample ({size - n_leaves} operations), "
            f"{n_inputs} inputs, {n_shared} shared parameters, {engine} engine>")


# ---------------------------------------------------------------- the tape

class BatchTape:
    """One sample's graph of ``regrad.pure`` Vars over a batch; make one with
    ``regrad.compile(root, inputs=[...])``. Slots as in ``regrad.replay.Tape``
    (whose recording it reuses); each lane has its own list of values."""

    __slots__ = ("_root", "_leaves", "_ops", "_args", "_born", "_root_slot", "_n",
                 "_input_slots", "_shared", "_inputs", "_lanes", "_threads", "_block",
                 "_outputs", "_output_slots")

    def __init__(self, root, inputs, retain_graph=False, outputs=(), threads=1, block=None):
        from .pure import Var
        self._threads, self._block = check_options(threads, block)
        inputs = check_inputs(root, inputs, Var)
        outputs = check_outputs(outputs, Var)
        tape = Tape(root, retain_graph=retain_graph, outputs=outputs)
        self._outputs, self._output_slots = outputs, tape._output_slots
        self._root = root
        self._leaves = tape._leaves
        self._ops, self._args, self._born = tape._ops, tape._args, tape._born
        self._root_slot = tape._root_slot
        self._n = tape.size
        self._inputs = inputs
        self._input_slots = [tape._leaf_slot[id(x)] for x in inputs]
        is_input = set(self._input_slots)
        self._shared = [j for j, x in enumerate(self._leaves)
                        if x._req_grad and j not in is_input]
        self._lanes = None            # the values of each lane, after a forward

    def forward(self, data):
        """Run the graph on every row of ``data`` (N rows of one value per
        input, in the order of ``inputs``: a C-contiguous float64 buffer, flat
        or of shape (N, k), or a sequence of rows); return the N values of the
        root as ``array('d')``. The other leaves' ``.val`` are read now."""
        k = len(self._inputs)
        try:
            view = memoryview(data)
        except TypeError:
            flat = rows_to_floats(data, k)
        else:
            with view:
                buffer_rows(view.format, view.c_contiguous, view.shape, view.nbytes, k, "data")
                flat = view.cast("B").cast("d").tolist()
        self._lanes = None
        base = [x._val for x in self._leaves] + [0.0] * len(self._ops)
        lanes, n_leaves = [], len(self._leaves)
        for i in range(len(flat) // k):
            v = base[:]
            for s, x in zip(self._input_slots, flat[i * k:(i + 1) * k]):
                v[s] = x
            j = n_leaves
            try:
                for op, args in zip(self._ops, self._args):
                    v[j] = op.forward(*[v[a] for a in args])
                    j += 1
                failed = False
            except Exception:
                failed = True
            if failed:                    # outside the except: no chained context
                self._raise_first_failure(i, v)
            lanes.append(v)
        self._lanes = lanes
        r = self._root_slot
        return array("d", [v[r] for v in lanes])

    def _raise_first_failure(self, lane, v):
        """As ``regrad.replay.Tape._raise_first_failure``, on one lane."""
        j, first_born, first_error = len(self._leaves), None, None
        for op, args, born in zip(self._ops, self._args, self._born):
            try:
                v[j] = op.forward(*[v[a] for a in args])
            except Exception as e:
                v[j] = float("nan")
                if first_error is None or born < first_born:
                    first_born, first_error = born, e
            j += 1
        try:
            raise lane_error(lane, first_error)
        finally:
            first_error = None

    def backward(self, dy=None, input_grads=False):
        """Add ``sum_i dy_i * d(out_i)/d(p)`` into the ``.grad`` of every shared
        parameter ``p``, at the values of the last ``forward()``. ``dy``: None
        (1.0), a number for every lane, or N weights (a sequence or a float64
        buffer). With ``input_grads=True``, return each lane's gradient with
        respect to the inputs, ``dy_i * d(out_i)/d(input)``, as ``array('d')`` of
        N rows of k values; otherwise None."""
        if self._lanes is None:
            raise RuntimeError(NO_FORWARD_MESSAGE)
        lanes = self._lanes
        n = len(lanes)
        try:
            if isinstance(dy, numbers.Real):      # numpy scalars have a buffer too
                raise TypeError
            view = memoryview(dy)
        except TypeError:
            dys = weights_to_floats(dy, n)
        else:
            with view:
                m = buffer_rows(view.format, view.c_contiguous, view.shape, view.nbytes, 1, "dy")
                if m != n:
                    raise ValueError(f"dy: {m} weights for {n} samples")
                dys = view.cast("B").cast("d").tolist()
        if type(dys) is float:
            dys = [dys] * n
        leaves, shared, n_leaves = self._leaves, self._shared, len(self._leaves)
        acc = [0.0 if leaves[j]._grad is None else leaves[j]._grad for j in shared]
        grads_in = [None] * n
        for i in range(n - 1, -1, -1):    # the last lane first, as sum(outs).backward()
            v = lanes[i]
            adj = [0.0] * self._n
            for j, a in zip(shared, acc):
                adj[j] = a
            adj[self._root_slot] = dys[i]
            for idx in range(len(self._ops) - 1, -1, -1):
                node = n_leaves + idx
                args = self._args[idx]
                grads = self._ops[idx].backward(v[node], adj[node], *[v[a] for a in args])
                for a, g in zip(args, grads):
                    adj[a] += g
            acc = [adj[j] for j in shared]
            if input_grads:
                grads_in[i] = [adj[s] for s in self._input_slots]
        for j, a in zip(shared, acc):
            leaves[j]._grad = a
        if input_grads:
            return array("d", [g for row in grads_in for g in row])
        return None

    # ------------------------------------------------------------ describing
    @property
    def root(self):
        """The Var the tape was recorded from."""
        return self._root

    @property
    def inputs(self):
        """The input leaves, in the order of a row of data."""
        return self._inputs

    @property
    def outputs(self):
        """The results besides the root whose lane values ``output_values`` holds."""
        return self._outputs

    @property
    def output_values(self):
        """Per output, its N values of the last forward, as ``array('d')``."""
        if self._lanes is None:
            raise RuntimeError(NO_VALUES_MESSAGE)
        return [array("d", [v[s] for v in self._lanes]) for s in self._output_slots]

    @property
    def params(self):
        """The shared parameters: leaves that require grad and are not inputs."""
        return tuple(self._leaves[j] for j in self._shared)

    @property
    def size(self):
        """The nodes of one sample's graph: leaves plus operator results."""
        return self._n

    @property
    def threads(self):
        return self._threads

    @property
    def block(self):
        return self._block

    def __len__(self):
        """The number of samples of the last forward (0 before one)."""
        return 0 if self._lanes is None else len(self._lanes)

    def __repr__(self):
        return batch_repr(self._n, len(self._leaves), len(self._inputs), len(self._shared),
                          "python")
