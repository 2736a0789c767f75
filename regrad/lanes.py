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

**bitwise=False.** Threads of the compiled tape then add up their own lanes
apart: thread t of T (``threads``, fewer on small batches: ``threads_for``)
the lanes ``N*t//T`` to ``N*(t+1)//T - 1``, the last thread from the
parameters' ``.grad``, the others from 0.0, and the threads' sums are added
last, the last lanes' first. No thread waits for another, which makes
threads faster; the gradients differ from the dynamic engine's in the last
bits and depend on N and ``threads`` (not on the block size). This tape adds
up the same parts in the same order, so both engines still agree.

**Errors.** A domain error in a lane raises the dynamic engine's exception,
of the same type, its message prefixed with ``sample i: `` (the first
failing sample; within it, the node made first, as in ``regrad.replay``).

This module is the pure-Python tape, the readable reference, over Python
lists; ``regrad/_lanes.pyx`` is the compiled one, with the same API, the same
checks and the same numbers.
"""
from array import array

from ._messages import (BATCH_RECORDED_ONCE_MESSAGE, CREATE_GRAPH_MESSAGE, NO_FORWARD_MESSAGE,
                        NO_SAMPLES_MESSAGE, NO_VALUES_MESSAGE, batch_repr, buffer_rows,
                        check_inputs, check_options, check_outputs, check_step_args, lane_error,
                        rows_to_floats, threads_for, weights_to_floats)
from .ops import is_real
from .replay import Tape, run

__all__ = ["BatchTape"]


class BatchTape:
    """One sample's graph of ``regrad.pure`` Vars over a batch; make one with
    ``regrad.compile(root, inputs=[...])``. Slots as in ``regrad.replay.Tape``
    (whose recording it reuses); each lane has its own list of values."""

    __slots__ = ("_root", "_leaves", "_ops", "_args", "_born", "_root_slot", "_n",
                 "_input_slots", "_shared", "_inputs", "_lanes", "_threads", "_block", "_bitwise",
                 "_outputs", "_output_slots", "_started", "_step_values")

    def __init__(self, root, inputs, retain_graph=False, outputs=(), threads=1, block=None,
                 bitwise=True):
        from .pure import Var
        if getattr(self, "_started", False):   # also from inside the outputs' iteration
            raise RuntimeError(BATCH_RECORDED_ONCE_MESSAGE)
        self._started = True
        self._threads, self._block, self._bitwise = check_options(threads, block, bitwise)
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
        self._step_values = None      # the outputs' values, after a step

    def forward(self, data):
        """Run the graph on every row of ``data`` (N rows of one value per
        input, in the order of ``inputs``: a C-contiguous float64 buffer, flat
        or of shape (N, k), or a sequence of rows); return the N values of the
        root as ``array('d')`` (none for N = 0, as NumPy sums an empty array:
        backward() then adds nothing). The other leaves' ``.val`` are read now."""
        k = len(self._inputs)
        try:
            view = memoryview(data)
        except TypeError:
            flat = rows_to_floats(data, k)
        else:
            with view:
                buffer_rows(view.format, view.c_contiguous, view.shape, view.nbytes, k, "data")
                flat = array("d", view.tobytes()).tolist()
        self._lanes = self._step_values = None
        base = [x._val for x in self._leaves] + [0.0] * len(self._ops)
        lanes, n_leaves = [], len(self._leaves)
        for i in range(len(flat) // k):
            v = base[:]
            for s, x in zip(self._input_slots, flat[i * k:(i + 1) * k]):
                v[s] = x
            error = run(self._ops, self._args, self._born, v, n_leaves)
            if error is not None:
                try:
                    raise lane_error(i, error)
                finally:
                    error = None
            lanes.append(v)
        self._lanes = lanes
        r = self._root_slot
        return array("d", [v[r] for v in lanes])

    def backward(self, dy=None, input_grads=False, create_graph=False):
        """Add ``sum_i dy_i * d(out_i)/d(p)`` into the ``.grad`` of every shared
        parameter ``p``, at the values of the last ``forward()``. ``dy``: None
        (1.0), a number for every lane, or N weights (a sequence or a float64
        buffer). With ``input_grads=True``, return each lane's gradient with
        respect to the inputs, ``dy_i * d(out_i)/d(input)``, as ``array('d')`` of
        N rows of k values; otherwise None. First derivatives only:
        ``create_graph=True`` raises ValueError."""
        if create_graph:
            raise ValueError(CREATE_GRAPH_MESSAGE)
        if self._lanes is None:
            raise RuntimeError(NO_FORWARD_MESSAGE)
        lanes = self._lanes
        n = len(lanes)
        try:
            if is_real(dy):      # numpy scalars have a buffer too
                raise TypeError
            view = memoryview(dy)
        except TypeError:
            dys = weights_to_floats(dy, n)
        else:
            with view:
                m = buffer_rows(view.format, view.c_contiguous, view.shape, view.nbytes, 1, "dy")
                if m != n:
                    raise ValueError(f"dy: {m} weights for {n} samples")
                dys = array("d", view.tobytes()).tolist()
        if type(dys) is float:
            dys = [dys] * n
        leaves, shared, n_leaves = self._leaves, self._shared, len(self._leaves)
        acc = [0.0 if leaves[j]._grad is None else leaves[j]._grad for j in shared]
        grads_in = [None] * n
        T = 1 if self._bitwise else threads_for(self._threads, n)
        starts = {n * t // T for t in range(1, T)}   # lanes where a thread's lanes start
        parts = []                # the sums of the threads done, the last lanes' first
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
            if i in starts:
                parts.append(acc)
                acc = [0.0] * len(shared)
        if parts:                 # the threads' sums added, the last lanes' first
            for part in parts[1:] + [acc]:
                parts[0] = [a + b for a, b in zip(parts[0], part)]
            acc = parts[0]
        for j, a in zip(shared, acc):
            leaves[j]._grad = a
        if input_grads:
            return array("d", [g for row in grads_in for g in row])
        return None

    def step(self, data, optimizer, l2=0.0):
        """One training step over the N rows of ``data`` (as ``forward()``
        takes them), in one call: the loss ``mean(out_i) + l2 * sum(p*p)``
        (``p`` over ``optimizer``'s parameters, in their order), the gradients
        (``optimizer``'s parameters' reset first, as ``zero_grad()`` does), and
        ``optimizer.step()``; returns the loss before the update. The losses
        and weights are those of the dynamic engine's ``loss.backward()`` and
        ``optimizer.step()`` on the same graph, to the bit (unless
        ``bitwise=False``). The compiled tape runs each block's forward and
        backward back to back: its memory is a block's, whatever N;
        ``output_values`` then holds the outputs, but there is no forward for
        ``backward()`` to use."""
        from .pure import Var
        params, l2 = check_step_args(optimizer, l2, Var)
        losses = self.forward(data)
        n = len(losses)
        if n == 0:
            raise ValueError(NO_SAMPLES_MESSAGE)
        # the loss as loss() adds it up: sum(losses) * (1/N) + l2 * sum(p*p)
        total = 0.0
        for x in losses:
            total = total + x
        total = total * (1.0 / n)
        if l2 != 0.0:
            squares = 0.0
            for p in params:
                squares = squares + p._val * p._val
            total = total + l2 * squares
        # zero_grad(); the penalty's gradient first (the dynamic backward
        # reaches it first): 2 * (l2*p) as the two operands of p*p pass it
        for p in params:
            p._grad = (0.0 + l2 * p._val) + l2 * p._val if l2 != 0.0 else None
        self.backward(1.0 / n)
        self._step_values = self.output_values
        self._lanes = None
        optimizer.step()
        return total

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
        if self._lanes is None and self._step_values is not None:
            return [array("d", values) for values in self._step_values]
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

    @property
    def bitwise(self):
        return self._bitwise

    def __len__(self):
        """The number of samples of the last forward (0 before one)."""
        return 0 if self._lanes is None else len(self._lanes)

    def __repr__(self):
        return batch_repr(self._n, len(self._leaves), len(self._inputs), len(self._shared),
                          "python")
