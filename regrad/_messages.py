"""The messages of the errors a tape raises, worded once for both tapes
(``regrad/replay.py`` and ``regrad/_replay.pyx``), so they agree to the letter."""
from .ops import is_real


def type_name(x):
    t = type(x)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


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
