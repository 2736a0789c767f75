"""What the pure and compiled tapes share, so that they agree to the letter:
the messages of the errors a tape raises (``regrad/replay.py`` and
``regrad/_replay.pyx``), and the checks and conversions of a batch tape's
arguments (``regrad/lanes.py`` and ``regrad/_lanes.pyx``)."""
import numbers

from . import ops
from .ops import is_real


def type_name(x):
    t = type(x)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


CREATE_GRAPH_MESSAGE = ("a tape replays first derivatives only (create_graph=True needs the "
                        "graph of Vars): use regrad.grad(root, [x, ...], create_graph=True) "
                        "on the Vars")


def items_of(xs, where, what, empty=None):
    """``xs`` (not a string) as a tuple, else the TypeError "``where`` must be
    ``what``"; with ``empty`` (a hint, may be ""), none is the ValueError
    "``where`` is empty``empty``"."""
    try:
        if isinstance(xs, (str, bytes)):
            raise TypeError
        items = tuple(xs)
    except TypeError:
        raise TypeError(f"{where} must be {what}, not {type_name(xs)}") from None
    if not items and empty is not None:
        raise ValueError(f"{where} is empty{empty}")
    return items


def outputs_type_message(i, x, var_type):
    return (f"regrad.compile: outputs[{i}] must be a {var_type.__module__}.Var, "
            f"not {type_name(x)}")


def outputs_graph_message(i):
    return f"regrad.compile: outputs[{i}] is not a node of the root's graph"


def vars_sequence_message(x):
    return f"load(): vars must be a sequence of leaf Vars, not {type_name(x)}"


def vars_type_message(i, x, var_type):
    return f"load(): vars[{i}] must be a {var_type.__module__}.Var, not {type_name(x)}"


def vars_leaf_message(i):
    return f"load(): vars[{i}] is not a leaf of this tape (see tape.leaves)"


def values_type_message(x):
    return ("load(): values must be a sequence of real numbers or a float64 buffer, "
            f"not {type_name(x)}")


def buffer_format_message(fmt):
    return (f"load(): a buffer of values must hold float64 (format 'd'), not format {fmt!r}; "
            "convert it, e.g. numpy.asarray(values, dtype=float)")


BUFFER_LAYOUT_MESSAGE = ("load(): a buffer of values must be C-contiguous; copy it, "
                         "e.g. numpy.ascontiguousarray(values)")


def length_message(n_vars, n_values):
    return f"load(): {n_vars} vars but {n_values} values"


def value_to_float(x, i):
    if is_real(x):
        return float(x)
    raise TypeError(f"load(): values[{i}] must be a real number, not {type_name(x)}")


def tape_repr(size, n_leaves, n_outputs, engine):
    extra = f", {n_outputs} outputs" if n_outputs else ""
    return (f"<regrad Tape: {size} nodes ({size - n_leaves} operations, {n_leaves} leaves"
            f"{extra}), {engine} engine>")


RECORDED_ONCE_MESSAGE = "a Tape is recorded once"
BATCH_RECORDED_ONCE_MESSAGE = "a BatchTape is recorded once"


# ------------------------------------------------------------ batch tapes

# a block's values are allocated at once: beyond this, a block no longer fits
# any cache and its sizes (block x slots) near the limits of a 32-bit machine
MAX_BLOCK = 2 ** 20
MAX_THREADS = 1024


def _option_int(value, name, allow_none, most):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"regrad.compile: {name} must be a positive int, not "
                        f"{type_name(value)}")
    if value < 1:
        raise ValueError(f"regrad.compile: {name} must be at least 1, not {value}")
    if value > most:
        raise ValueError(f"regrad.compile: {name} must be at most {most}, not {value}")
    return int(value)


def check_options(threads, block, bitwise):
    """``threads`` (1 to MAX_THREADS) and ``block`` (None, or 1 to MAX_BLOCK)
    as ints, and ``bitwise`` (a bool), or the error."""
    if type(bitwise) is not bool:
        raise TypeError(f"regrad.compile: bitwise must be True or False, not "
                        f"{type_name(bitwise)}")
    return (_option_int(threads, "threads", False, MAX_THREADS),
            _option_int(block, "block", True, MAX_BLOCK), bitwise)


# a thread of a batch tape gets at least this many lanes (fewer threads
# otherwise): 2 threads on fewer lanes of the moons step are no faster than
# one here (python benchmarks/bench_lanes.py --threads-min)
LANES_PER_THREAD = 512


def threads_for(threads, n):
    """The threads that share n lanes. With bitwise=False, thread t of T adds
    up lanes n*t//T to n*(t+1)//T - 1 apart, and the threads' sums are added
    last, the last lanes' first: the numbers depend on n and ``threads``,
    never on the block size, and are the same in both engines."""
    return max(1, min(threads, n // LANES_PER_THREAD))


def check_outputs(outputs, var_type):
    """The outputs as a tuple of results of ``var_type`` (leaves have no lane
    values of their own to report)."""
    outputs = tuple(outputs)
    for i, o in enumerate(outputs):
        if not isinstance(o, var_type):
            raise TypeError(outputs_type_message(i, o, var_type))
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
                        f"not {type_name(root)}")
    if not root.req_grad:
        raise RuntimeError(ops.NO_GRAD_MESSAGE)
    inputs = items_of(inputs, "regrad.compile: inputs", "a sequence of leaf Vars",
                      empty=": list the leaves that hold one sample's values")
    seen = {}
    for i, x in enumerate(inputs):
        if not isinstance(x, var_type):
            raise TypeError(f"regrad.compile: inputs[{i}] must be a "
                            f"{var_type.__module__}.Var, not {type_name(x)}")
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
    return count // k


def rows_to_floats(data, k):
    """A sequence of rows of ``k`` real numbers (a number per row when k == 1)
    as one flat list of floats, or the error."""
    flat = []
    for i, row in enumerate(items_of(data, "data", "a float64 buffer or a sequence of rows")):
        if k == 1 and is_real(row):
            row = (row,)
        elif isinstance(row, (str, bytes)):
            raise TypeError(f"data[{i}] must be a row of {k} numbers, not {type_name(row)}")
        else:
            try:
                row = tuple(row)
            except TypeError:
                raise TypeError(f"data[{i}] must be a row of {k} numbers, not "
                                f"{type_name(row)}") from None
        if len(row) != k:
            raise ValueError(f"data[{i}] has {len(row)} values, not {k}")
        for j, x in enumerate(row):
            if type(x) is float:
                flat.append(x)
            elif is_real(x):
                flat.append(float(x))
            else:
                raise TypeError(f"data[{i}][{j}] must be a real number, not {type_name(x)}")
    return flat


def weights_to_floats(dy, n):
    """``dy`` of backward(): None (1.0), a real number for every lane, or n
    weights (a sequence of numbers; float64 buffers are read by the callers).
    Returns a float or a list of n floats."""
    if dy is None:
        return 1.0
    if is_real(dy):
        return float(dy)
    ws = items_of(dy, "dy", f"a real number or {n} weights")
    if len(ws) != n:
        raise ValueError(f"dy: {len(ws)} weights for {n} samples")
    out = []
    for i, w in enumerate(ws):
        if is_real(w):
            out.append(float(w))
        else:
            raise TypeError(f"dy[{i}] must be a real number, not {type_name(w)}")
    return out


NO_VALUES_MESSAGE = "output_values: no successful forward() yet"
NO_SAMPLES_MESSAGE = "step(): no samples: the mean of no losses is undefined"


def check_step_args(optimizer, l2, var_type):
    """``step()``'s optimizer's parameters (a flat tuple, every one a
    ``var_type``) and ``l2`` as a float, or the error."""
    if not is_real(l2):
        raise TypeError(f"step(): l2 must be a real number, not {type_name(l2)}")
    params = tuple([p for g in optimizer.param_groups for p in g["params"]])
    for p in params:
        if type(p) is not var_type:
            raise TypeError(f"step(): the optimizer's parameters must be "
                            f"{var_type.__module__}.Var, not {type_name(p)}")
    return params, float(l2)
NO_FORWARD_MESSAGE = "backward(): no successful forward() yet: nothing to differentiate"


def lane_error(i, e):
    """The dynamic engine's exception ``e``, naming sample ``i``."""
    return type(e)(f"sample {i}: {e}")


def batch_repr(size, n_leaves, n_inputs, n_shared, engine):
    return (f"<regrad BatchTape: {size} nodes a sample ({size - n_leaves} operations), "
            f"{n_inputs} inputs, {n_shared} shared parameters, {engine} engine>")


# ---------------------------------------------------------------- the tape
