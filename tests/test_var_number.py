"""A Var behaves like the number it holds where Python asks for one (str,
format, float, round, math, comparisons), says what it is in ``repr``, keeps
``==`` and ``hash`` by identity (it is a graph node), carries a label, and
documents itself (help, inspect.signature, docstrings, type stubs): on both
engines, with the same results. References are Python's own float."""
import ast
import fractions
import inspect
import math
import os
import pydoc

import numpy as np
import pytest

import regrad
from regrad import ops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALUES = [1.5, -0.25, 0.0, -0.0, 1e300, 3.0, math.inf, -math.inf, math.nan, 2.0 ** -1074]


# ------------------------------------------------------------ str and repr

def test_str_is_the_value_and_repr_says_what_it_is(Var):
    w = Var(1.5, req_grad=True)
    c = Var(2)
    y = w * 0.5 * w
    assert str(w) == "1.5" and str(y) == repr(1.5 * 0.5 * 1.5) and str(c) == "2.0"
    assert repr(w) == "Var(1.5, req_grad=True)"
    assert repr(c) == "Var(2.0)"
    assert repr(y) == f"Var({1.5 * 0.5 * 1.5!r}, op=Mul)"
    assert repr(w ** 2) == "Var(2.25, op=Pow(power=2))"
    assert repr(c * 3) == "Var(6.0)"                        # a constant result is a leaf
    assert repr(Var(0.5, req_grad=True, label="w1")) == "Var(0.5, req_grad=True, label='w1')"
    assert repr(Var(math.nan)) == "Var(nan)"
    assert f"{w}" == "1.5" and "%s" % w == "1.5"
    y.backward()
    assert repr(y) == f"Var({1.5 * 0.5 * 1.5!r}, op=Mul)"   # released: still itself


@pytest.mark.parametrize("v", VALUES)
def test_format_float_round_and_math_act_on_the_value(Var, v):
    x = Var(v)
    for spec in ("", ".3f", "+.2e", "g", "10.4f", ".0%"):
        assert format(x, spec) == format(v, spec)
    assert f"{x:.3f}" == f"{v:.3f}"
    assert float(x) == v or (math.isnan(v) and math.isnan(float(x)))
    assert type(float(x)) is float
    assert math.isfinite(x) == math.isfinite(v) and math.isnan(x) == math.isnan(v)
    if math.isfinite(v):
        for n in (0, 1, 3, -1):
            assert round(x, n) == round(v, n) and type(round(x, n)) is float
        assert round(x) == round(v) and type(round(x)) is int
        assert math.floor(x) == math.floor(v)
    else:
        assert str(round(x, 2)) == str(round(v, 2))
    with pytest.raises(ValueError):
        format(x, "d")                                      # as float refuses it


def test_float_of_a_result_and_numpy(Var):
    w = Var(2.0, req_grad=True)
    y = (w * w).exp()
    assert float(y) == math.exp(4.0)
    assert np.float64(y) == math.exp(4.0)
    assert math.sqrt(w) == math.sqrt(2.0)


# ------------------------------------------------------------ comparisons

NUMBERS = [0, 1, -1, 2 ** 53 + 1, 1.5, -0.0, math.inf, math.nan, True,
           fractions.Fraction(1, 3), np.float64(1.5), np.int32(-1), np.True_, np.False_]


@pytest.mark.parametrize("v", [1.5, -1.0, 0.0, 2.0 ** 53, math.inf, math.nan, 1 / 3])
def test_comparisons_compare_values_and_return_bool(Var, v):
    x = Var(v, req_grad=True)
    for other in NUMBERS + [Var(1.5), Var(math.nan), x]:
        ref = float(other) if isinstance(other, Var) else other
        ref = bool(ref) if isinstance(ref, np.bool_) else ref
        for got, want in ((x < other, v < ref), (x <= other, v <= ref),
                          (x > other, v > ref), (x >= other, v >= ref)):
            assert type(got) is bool and got == bool(want), (v, other)
        if not isinstance(other, (Var, np.generic)):       # reflected: number on the left
            assert (other < x) == (ref < v) and type(other < x) is bool
            assert (other >= x) == (ref >= v)


def test_max_sorted_and_if_work(Var):
    xs = [Var(v) for v in (3.0, -1.0, 2.5, 0.0)]
    assert max(xs) is xs[0] and min(xs) is xs[1]
    assert [x.val for x in sorted(xs)] == [-1.0, 0.0, 2.5, 3.0]
    best, loss = Var(1.0), Var(0.5, req_grad=True) * 1.0
    assert loss < best
    if loss < best:
        best = loss
    assert best is loss


def test_unsupported_comparisons_raise_type_error(Var):
    x = Var(1.0)
    for other in ("1", None, [1], 1j, object()):
        for f in (lambda: x < other, lambda: x >= other, lambda: other > x):
            with pytest.raises(TypeError):
                f()


def test_equality_and_hash_stay_identity(Var):
    a, b = Var(1.0), Var(1.0)
    assert a == a and a != b and not (a == b) and a != 1.0 and not (a == 1.0)
    assert (a <= b) and (a >= b)                          # equal values, distinct nodes
    assert hash(a) == hash(a) and len({a, b, a}) == 2
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b"
    w = Var(2.0, req_grad=True)
    y = w * w
    assert {y: 1}[y] == 1 and y in {y} and y not in {w}


def test_both_engines_compare_alike():
    c, p = regrad.get_engine("cython").Var, regrad.get_engine("python").Var
    cases = [(1.0, 2), (math.nan, 0.0), (2.0, np.True_), (-0.0, 0)]
    for v, other in cases:
        got = [[op(V(v), other) for op in (lambda a, b: a < b, lambda a, b: a <= b,
                                           lambda a, b: a > b, lambda a, b: a >= b)]
               for V in (c, p)]
        assert got[0] == got[1]


# ------------------------------------------------------------------ labels

def test_label(Var):
    w = Var(0.5, req_grad=True, label="w1")
    assert w.label == "w1"
    w.label = "bias"
    assert w.label == "bias" and "label='bias'" in repr(w)
    w.label = None
    assert w.label is None and repr(w) == "Var(0.5, req_grad=True)"
    assert Var(1.0).label is None
    y = w * 2
    assert y.label is None
    y.label = "h"                                          # results may be named too
    assert y.label == "h" and repr(y) == "Var(1.0, op=Mul, label='h')"
    for bad in (1, b"w", ["w"], Var(1.0)):
        with pytest.raises(TypeError, match="label must be a str or None"):
            Var(1.0, label=bad)
        with pytest.raises(TypeError, match="label must be a str or None"):
            w.label = bad
    with pytest.raises(AttributeError):
        del w.label

    class Name(str):
        pass
    x = Var(1.0, label=Name("x"))
    assert type(x.label) is str and x.label == "x"


def test_reinitializing_a_leaf_resets_its_label(Var):
    x = Var(1.0, label="x")
    x.__init__(2.0)
    assert x.label is None and x.val == 2.0
    x.__init__(3.0, True, "z")
    assert x.label == "z" and x.req_grad


def test_compiled_labels_are_dropped_with_their_nodes():
    from regrad import _core
    before = len(_core._label_table)
    xs = [_core.Var(float(i), label=f"x{i}") for i in range(1000)]
    ys = [x * 2 for x in xs]
    for y in ys:
        y.label = "y"
    assert len(_core._label_table) == before + 2000
    del xs, ys, y
    assert len(_core._label_table) == before
    try:                                    # a node dying while an exception propagates
        x = _core.Var(1.0, label="gone")
        raise KeyError("kept")
    except KeyError as e:
        del x
        assert e.args == ("kept",)
    assert len(_core._label_table) == before
    # a freed address reused by a new node carries no label
    assert all(_core.Var(1.0).label is None for _ in range(1000))


# ------------------------------------------------------ help and signatures

PUBLIC_VAR = ["val", "grad", "req_grad", "label", "name", "op", "src", "backward",
              *ops.UNARY_METHODS]


def test_help_and_signature(engine):
    Var = engine.Var
    sig = inspect.signature(Var)
    assert list(sig.parameters) == ["val", "req_grad", "label"]
    assert sig.parameters["req_grad"].default is False and sig.parameters["label"].default is None
    assert list(inspect.signature(Var.backward).parameters) == ["self", "dy", "retain_graph",
                                                                 "create_graph"]
    text = pydoc.render_doc(Var)
    assert "req_grad" in text and "backward" in text
    for name in PUBLIC_VAR:
        doc = inspect.getdoc(getattr(Var, name))
        assert doc and len(doc) >= 8, name


def test_tape_docstrings(engine):
    w = engine.Var(1.0, req_grad=True)
    Tape = type(regrad.compile(w * 2.0))
    assert inspect.getdoc(Tape)
    for name in ("forward", "backward", "load", "root", "leaves", "outputs", "size"):
        assert inspect.getdoc(getattr(Tape, name)), name
    assert list(inspect.signature(Tape.load).parameters) == ["self", "vars", "values"]
    assert list(inspect.signature(Tape.backward).parameters) == ["self", "dy", "create_graph"]


def _stub_members(path, cls):
    """The names a class of a .pyi file declares."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
    return {n.name for n in node.body if isinstance(n, ast.FunctionDef)}


def test_type_stubs_describe_the_compiled_modules():
    from regrad import _core, _replay
    assert os.path.isfile(os.path.join(ROOT, "regrad", "py.typed"))
    var_stub = _stub_members(os.path.join(ROOT, "regrad", "_core.pyi"), "Var")
    public = {n for n in dir(_core.Var) if not n.startswith("_")}
    assert public <= var_stub
    for dunder in ("__init__", "__add__", "__radd__", "__pow__", "__lt__", "__float__",
                   "__format__", "__round__", "__reduce__", "__hash__", "__eq__"):
        assert dunder in var_stub, dunder
    tape_stub = _stub_members(os.path.join(ROOT, "regrad", "_replay.pyi"), "Tape")
    assert {n for n in dir(_replay.Tape) if not n.startswith("_")} <= tape_stub
    pyproject = open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8").read()
    assert '"py.typed"' in pyproject and '"*.pyi"' in pyproject
