"""Static-graph replay: record a graph once, run forward and backward many times.

``tape = regrad.compile(root)`` records the graph under ``root`` (a Var that
requires grad) into a flat list of operations; then, at every step::

    loss = tape.forward()      # every value again, from the leaves' current .val
    model.zero_grad()
    tape.backward()            # the gradients into the leaves' .grad, as loss.backward()
    for p in params:
        p.val -= lr * p.grad

This module is the pure-Python tape, for ``regrad.pure`` Vars, and the
readable reference for the compiled one (``regrad/_replay.pyx``, for
``regrad._core`` Vars), which has the same API and records the same order.

**What replay keeps.** A tape replays the structure it recorded, as
``torch.jit.trace`` does: Python code that chose what to build from the values
at record time (``if x.val > 0: ...``, a loop until convergence, a data
dependent number of terms) is frozen as it went then. Operators whose result
depends on values are not control flow: ``relu`` and ``abs`` pick their branch
at each replay, and every domain check (``log`` of 0, division by 0) runs at
each replay and raises what the dynamic engine raises.

**Leaves.** The tape's leaves are the graph's leaf Vars: parameters, input
Vars, and the constants made from Python numbers. ``forward()`` reads every
leaf's ``.val``, so set inputs (or ``tape.load(inputs, values)`` for a whole
batch) before it. Only what was a leaf can change: a value computed, at record
time, from Vars that did not require grad is a constant of the graph (the
dynamic engine keeps no inputs for it), so an input must meet something that
requires grad before any other operation, e.g. ``w * x``, not ``2 * x``.
Whether a leaf receives a gradient is read from its ``req_grad`` at each
``backward()``.

**Schedule.** The tape's order is the reverse of the dynamic engine's backward
schedule (dependency counting), so a sweep from the root down adds the
gradients up in the order ``root.backward()`` does: the same bits.

**Errors.** That order is not always the one the program made the nodes in,
and when several nodes fail in one forward, the program raises for the one it
meets first. So the tape keeps each result's creation number (``_born``) and,
once a forward has failed, evaluates every node, passing NaN on from the
failing ones, and raises the error of the failing node made first: the one
whose inputs all succeeded, as in the program.

**Memory.** Unless ``retain_graph=True``, recording releases the graph's
interior as ``backward()`` does (so ``root.backward()`` afterwards raises, as
after a backward); the tape keeps references to its leaves, its root and its
outputs only.
"""
from . import ops
from ._messages import (BUFFER_LAYOUT_MESSAGE, CREATE_GRAPH_MESSAGE, buffer_format_message,
                        length_message, outputs_graph_message, outputs_type_message, tape_repr,
                        type_name, value_to_float, values_type_message, vars_leaf_message,
                        vars_sequence_message, vars_type_message, RECORDED_ONCE_MESSAGE)
from .ops import to_float
from .function import tape_refusal

__all__ = ["Tape"]


# ------------------------------------------------------------------ the tape

class Tape:
    """A recorded graph of ``regrad.pure`` Vars; make one with ``regrad.compile(root)``.

    Slots ``0 .. n_leaves-1`` hold the leaves, the following ones the results
    in topological order, the root last. ``self._ops[i]`` and ``self._args[i]``
    (slots of the inputs) describe the result in slot ``n_leaves + i``.

    The recording is what ``regrad.lanes`` builds a batch program from (as the
    compiled lanes read ``_replay.pxd``): ``_leaves``, ``_leaf_slot`` (id of a
    leaf -> slot), ``_ops``, ``_args``, ``_born`` (creation numbers),
    ``_root_slot`` and ``_output_slots``; ``run()`` is their forward pass.
    """

    __slots__ = ("_root", "_leaves", "_leaf_slot", "_ops", "_args", "_born", "_vals",
                 "_root_slot", "_outputs", "_output_slots", "_started")

    def __init__(self, root, retain_graph=False, outputs=()):
        from .pure import Var, _graph_lock
        if getattr(self, "_started", False):   # also from inside the outputs' iteration
            raise RuntimeError(RECORDED_ONCE_MESSAGE)
        self._started = True
        if not isinstance(root, Var):
            raise TypeError(f"regrad.compile: expected a regrad.pure.Var, not {type_name(root)}")
        if not root._req_grad:
            raise RuntimeError(ops.NO_GRAD_MESSAGE)
        outputs = tuple(outputs)
        for i, o in enumerate(outputs):
            if not isinstance(o, Var):
                raise TypeError(outputs_type_message(i, o, Var))
        with _graph_lock:                 # see regrad.pure: one recording or backward at a time
            self._record(root, retain_graph, outputs)

    def _record(self, root, retain_graph, outputs):
        if root._op is None:              # a leaf root: a tape of one slot
            order, leaves = [], [root]
        else:
            order, leaves = _schedule(root)
        n = len(leaves) + len(order)
        slot = {id(x): j for j, x in enumerate(leaves)}
        for k, node in enumerate(order):  # processed k-th: slot n-1-k
            slot[id(node)] = n - 1 - k
        records = [(node._op, tuple(slot[id(x)] for x in node._src)) for node in reversed(order)]
        self._ops = [op for op, _ in records]
        self._args = [args for _, args in records]
        self._born = [node._born for node in reversed(order)]
        self._leaves = tuple(leaves)
        self._leaf_slot = {id(x): j for j, x in enumerate(leaves)}
        self._vals = [x._val for x in leaves] + [node._val for node in reversed(order)]
        self._root_slot = slot[id(root)]
        self._output_slots = []
        for i, o in enumerate(outputs):
            if id(o) not in slot:
                raise ValueError(outputs_graph_message(i))
            self._output_slots.append(slot[id(o)])
        self._outputs = outputs
        self._root = root
        if not retain_graph:
            for node in order:            # as backward() releases it
                node._src = None

    # -------------------------------------------------------------- replay
    def forward(self):
        """Recompute every value from the leaves' current ``.val``; store the
        root's value in ``root.val`` (and each output's in its ``.val``) and
        return it. Raises what the dynamic engine raises on a domain error
        (then ``root.val`` keeps its previous value)."""
        vals = self._vals
        for j, leaf in enumerate(self._leaves):
            vals[j] = leaf._val
        error = run(self._ops, self._args, self._born, vals, len(self._leaves))
        if error is not None:
            try:
                raise error
            finally:
                error = None              # no cycle through this frame
        self._root._val = vals[self._root_slot]
        for o, k in zip(self._outputs, self._output_slots):
            o._val = vals[k]
        return self._root._val

    def backward(self, dy=None, create_graph=False):
        """Add d(root)/d(leaf) * ``dy`` (default 1.0) into the ``.grad`` of every
        leaf that requires grad, as ``root.backward()`` would, at the values of
        the last ``forward()`` (or of the recording, before any forward).
        First derivatives only: ``create_graph=True`` raises ValueError."""
        if create_graph:
            raise ValueError(CREATE_GRAPH_MESSAGE)
        if not self._root._req_grad:
            raise RuntimeError(ops.NO_GRAD_MESSAGE)
        dy = 1.0 if dy is None else to_float(dy, "dy")
        vals, n_leaves = self._vals, len(self._leaves)
        # a leaf's adjoint starts from its .grad, so contributions are added to
        # it one by one as root.backward() adds them
        adj = [(0.0 if x._grad is None else x._grad) if x._req_grad else 0.0
               for x in self._leaves]
        adj += [0.0] * len(self._ops)
        if self._root._op is None:
            adj[self._root_slot] += dy
        else:
            adj[self._root_slot] = dy
        for i in range(len(self._ops) - 1, -1, -1):
            node = n_leaves + i
            args = self._args[i]
            grads = self._ops[i].backward(vals[node], adj[node], *[vals[k] for k in args])
            for k, g in zip(args, grads):
                adj[k] += g
        for j, x in enumerate(self._leaves):
            if x._req_grad:
                x._grad = adj[j]

    def load(self, vars, values):
        """Set the ``.val`` of the leaves ``vars`` from ``values``: a sequence of
        real numbers, or a C-contiguous float64 buffer (numpy array, ``array('d')``;
        any shape, read in C order), copied without a Python loop per value by
        the compiled tape. Checks everything before setting anything."""
        from .pure import Var
        try:
            vars = list(vars)
        except TypeError:
            raise TypeError(vars_sequence_message(vars)) from None
        for i, x in enumerate(vars):
            if not isinstance(x, Var):
                raise TypeError(vars_type_message(i, x, Var))
            if id(x) not in self._leaf_slot:
                raise ValueError(vars_leaf_message(i))
        try:
            view = memoryview(values)
        except TypeError:
            try:
                values = list(values)
            except TypeError:
                raise TypeError(values_type_message(values)) from None
            if len(values) != len(vars):
                raise ValueError(length_message(len(vars), len(values)))
            values = [x if type(x) is float else value_to_float(x, i)
                      for i, x in enumerate(values)]
        else:
            with view:
                if view.format not in ("d", "@d", "=d", "<d"):
                    raise TypeError(buffer_format_message(view.format))
                if not view.c_contiguous:
                    raise TypeError(BUFFER_LAYOUT_MESSAGE)
                if view.nbytes // 8 != len(vars):
                    raise ValueError(length_message(len(vars), view.nbytes // 8))
                values = view.cast("B").cast("d").tolist()
        for x, value in zip(vars, values):
            x._val = value

    # ---------------------------------------------------------- describing
    @property
    def root(self):
        """The Var the tape was recorded from; ``forward()`` sets its ``.val``."""
        return self._root

    @property
    def leaves(self):
        """The leaf Vars, in slot order: parameters, inputs, and the constants
        made from Python numbers."""
        return self._leaves

    @property
    def outputs(self):
        """The Vars besides the root whose ``.val`` ``forward()`` refreshes."""
        return self._outputs

    @property
    def size(self):
        """The number of nodes: leaves plus operator results."""
        return len(self._leaves) + len(self._ops)

    def __repr__(self):
        return tape_repr(self.size, len(self._leaves), len(self._outputs), "python")


def _schedule(root):
    """The results under ``root`` in the order ``root.backward()`` handles them
    (``regrad.pure.Schedule``), and the leaves in the order they are first
    met. Raises RuntimeError if the graph was released."""
    from .pure import Schedule
    order, leaves, seen_leaves = [], [], set()
    for node, inputs in Schedule(root):
        if node._op.code < 0:             # an operator defined in Python
            raise tape_refusal(node._op)
        order.append(node)
        for x in inputs:
            if x._op is None and id(x) not in seen_leaves:
                seen_leaves.add(id(x))
                leaves.append(x)
    return order, leaves


def run(ops, args, borns, vals, start):
    """The forward pass of a recorded program: fill ``vals`` from slot ``start``
    on; return None, or the error the dynamic engine raises first on these
    values (not raised here: outside the except, it carries no context)."""
    i = start
    try:
        for op, operands in zip(ops, args):
            vals[i] = op.forward(*[vals[k] for k in operands])
            i += 1
        return None
    except Exception:
        pass
    return first_failure(ops, args, borns, vals, start)


def first_failure(ops, args, borns, vals, start):
    """After a failed forward: evaluate every result from slot ``start`` on
    (NaN for the failing ones) and return the error of the failing node made
    first. A node fed by a failing one was made after it, so what NaN does
    downstream never wins."""
    i, first_born, first_error = start, None, None
    for op, operands, born in zip(ops, args, borns):
        try:
            vals[i] = op.forward(*[vals[k] for k in operands])
        except Exception as e:
            vals[i] = float("nan")
            if first_error is None or born < first_born:
                first_born, first_error = born, e
        i += 1
    return first_error
