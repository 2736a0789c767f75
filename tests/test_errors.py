"""Bad input, on both engines alike: every case raises the same exception type
with the same message from both engines (the type checked against Python's own
``math``/``float`` where it has the operation), and leaves the graph usable
or cleanly released, never half-updated. Where no Python exception applies,
NaN and infinities propagate as IEEE floats, checked against PyTorch float64.
"""
import decimal
import fractions
import math
import subprocess
import sys
import textwrap

import pytest

import regrad
from compare import same
from regrad import ops

ENGINES = ("cython", "python")
inf, nan = math.inf, math.nan


def engines():
    return [regrad.get_engine(name) for name in ENGINES]


def outcome(fn, *args):
    """("ok", result) or ("raise", exception type, message)."""
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the point is to see any exception
        return ("raise", type(exc), str(exc))


def same_float(a, b):
    """Equal as IEEE floats, NaN equal to NaN (signed zeros not distinguished)."""
    return same(a, b) if isinstance(a, float) and isinstance(b, float) else a == b


# ------------------------------------------------------------ the error table
#
# (id, expression on a Var x, x's value, the exception, the operator's name in
#  the message, the same computation in Python's math/float or None when
#  Python has no exception for it, the regrad rule stated by the issue)
ERROR_TABLE = [
    ("log(0)", lambda x: x.log(), 0.0, ValueError, "Log", lambda v: math.log(v)),
    ("log(-0.0)", lambda x: x.log(), -0.0, ValueError, "Log", lambda v: math.log(v)),
    ("log(-1)", lambda x: x.log(), -1.0, ValueError, "Log", lambda v: math.log(v)),
    ("log(-inf)", lambda x: x.log(), -inf, ValueError, "Log", lambda v: math.log(v)),
    ("sqrt(-1)", lambda x: x.sqrt(), -1.0, ValueError, "Sqrt", lambda v: math.sqrt(v)),
    ("sqrt(-1e-300)", lambda x: x.sqrt(), -1e-300, ValueError, "Sqrt", lambda v: math.sqrt(v)),
    ("sqrt(-inf)", lambda x: x.sqrt(), -inf, ValueError, "Sqrt", lambda v: math.sqrt(v)),
    ("x/0", lambda x: x / 0, 1.0, ZeroDivisionError, "Div", lambda v: v / 0.0),
    ("x/0.0 var", lambda x: x / x.__class__(0.0), 1.0, ZeroDivisionError, "Div",
     lambda v: v / 0.0),
    ("0/0", lambda x: x / 0.0, 0.0, ZeroDivisionError, "Div", lambda v: v / 0.0),
    ("nan/0", lambda x: x / 0.0, nan, ZeroDivisionError, "Div", lambda v: v / 0.0),
    ("1/x at 0", lambda x: 1 / x, 0.0, ZeroDivisionError, "Div", lambda v: 1.0 / v),
    ("1/x at -0.0", lambda x: 1 / x, -0.0, ZeroDivisionError, "Div", lambda v: 1.0 / v),
    ("0**-1", lambda x: x ** -1, 0.0, ZeroDivisionError, "Pow", lambda v: v ** -1.0),
    ("0**-0.5", lambda x: x ** -0.5, 0.0, ZeroDivisionError, "Pow", lambda v: v ** -0.5),
    ("-0.0**-2", lambda x: x ** -2, -0.0, ZeroDivisionError, "Pow", lambda v: v ** -2.0),
    ("exp(1000)", lambda x: x.exp(), 1000.0, OverflowError, "Exp", lambda v: math.exp(v)),
    ("exp(709.8)", lambda x: x.exp(), 709.8, OverflowError, "Exp", lambda v: math.exp(v)),
    ("10**400", lambda x: x ** 400, 10.0, OverflowError, "Pow", lambda v: v ** 400.0),
    ("(-10)**401", lambda x: x ** 401, -10.0, OverflowError, "Pow", lambda v: v ** 401.0),
    ("1e-200**-2", lambda x: x ** -2, 1e-200, OverflowError, "Pow", lambda v: v ** -2.0),
    ("(-8)**(1/3)", lambda x: x ** (1 / 3), -8.0, ValueError, "Pow",
     lambda v: math.pow(v, 1 / 3)),
    ("(-1)**0.5", lambda x: x ** 0.5, -1.0, ValueError, "Pow", lambda v: math.pow(v, 0.5)),
    ("(-2)**-1.5", lambda x: x ** -1.5, -2.0, ValueError, "Pow", lambda v: math.pow(v, -1.5)),
    # Python's math.pow(-inf, 0.5) is inf; regrad's rule is "a negative base to
    # a fractional power is a ValueError", whatever the base
    ("(-inf)**0.5", lambda x: x ** 0.5, -inf, ValueError, "Pow", None),
    ("sin(inf)", lambda x: x.sin(), inf, ValueError, "Sin", lambda v: math.sin(v)),
    ("sin(-inf)", lambda x: x.sin(), -inf, ValueError, "Sin", lambda v: math.sin(v)),
    ("cos(inf)", lambda x: x.cos(), inf, ValueError, "Cos", lambda v: math.cos(v)),
    ("cos(-inf)", lambda x: x.cos(), -inf, ValueError, "Cos", lambda v: math.cos(v)),
]


@pytest.mark.parametrize("case", ERROR_TABLE, ids=[c[0] for c in ERROR_TABLE])
def test_error_table(case):
    label, f, value, exc_type, op_name, python_ref = case
    if python_ref is not None:   # the expected type is Python's own
        with pytest.raises(exc_type):
            python_ref(value)
    seen = []
    for E in engines():
        for req_grad in (True, False):       # a constant result raises the same
            x = E.Var(value, req_grad=req_grad)
            with pytest.raises(exc_type) as info:
                f(x)
            assert type(info.value) is exc_type
            message = str(info.value)
            assert message.startswith(op_name + "("), message
            seen.append(message)
            # nothing touched: the input is as it was
            assert same_float(x.val, value) and x.grad is None and x.req_grad is req_grad
    assert len(set(seen)) == 1, f"the engines' messages differ: {seen}"


@pytest.mark.parametrize("case", ERROR_TABLE, ids=[c[0] for c in ERROR_TABLE])
def test_error_leaves_the_graph_usable(case, engine):
    """An operator that raises leaves what was built before it intact: it can
    still be differentiated, and once more after retain_graph."""
    label, f, value, exc_type, op_name, _ = case
    Var = engine.Var
    w = Var(3.0, req_grad=True)
    x = Var(value, req_grad=True)
    inner = x * 1.0              # a result with x's value, bit for bit
    h = inner + w * w
    with pytest.raises(exc_type):
        f(x)
    with pytest.raises(exc_type):
        f(inner)                     # the same failure on an interior result
    h.backward(retain_graph=True)
    h.backward()
    assert w.grad == 12.0
    assert same_float(x.grad, 2.0)
    with pytest.raises(RuntimeError):
        h.backward()
    assert w.grad == 12.0            # the failed third backward touched nothing


# --------------------------------------------------------- what Var() accepts

class NotANumber:
    def __float__(self):         # float() would accept it: regrad does not
        return 1.0


REJECTED_VALUES = [
    ("str", "abc"), ("numeric str", "1.0"), ("bytes", b"1"), ("None", None),
    ("list", [1]), ("tuple", (1.0,)), ("complex", 1 + 2j), ("complex 0j", 0j),
    ("Decimal", decimal.Decimal("1.5")), ("object", object()), ("dict", {}),
    ("__float__", NotANumber()),
]


@pytest.mark.parametrize("value", [v for _, v in REJECTED_VALUES],
                         ids=[k for k, _ in REJECTED_VALUES])
def test_var_rejects_non_numbers(value):
    results = [outcome(E.Var, value) for E in engines()]
    for r in results:
        assert r[0] == "raise" and r[1] is TypeError, r
        assert "real number" in r[2] and type(value).__name__ in r[2]
    assert results[0] == results[1]


def test_var_rejects_a_var_and_arrays():
    np = pytest.importorskip("numpy")
    for E in engines():
        for value in (E.Var(1.0), np.array([1.0]), np.array(1.0)):
            with pytest.raises(TypeError):
                E.Var(value)
    cy, py = engines()
    with pytest.raises(TypeError):    # nor the other engine's Var
        cy.Var(py.Var(1.0))
    with pytest.raises(TypeError):
        py.Var(cy.Var(1.0))


def test_var_accepts_real_numbers(Var):
    np = pytest.importorskip("numpy")
    accepted = [(True, 1.0), (False, 0.0), (3, 3.0), (-7, -7.0), (2 ** 60, float(2 ** 60)),
                (fractions.Fraction(1, 3), 1 / 3), (np.float64(0.25), 0.25),
                (np.float32(0.1), float(np.float32(0.1))), (np.int64(-5), -5.0),
                (np.int8(7), 7.0), (inf, inf), (-inf, -inf), (1e-320, 1e-320)]
    for value, expected in accepted:
        x = Var(value)
        assert type(x.val) is float and x.val == expected
    x = Var(nan, req_grad=True)
    assert math.isnan(x.val)
    x = Var(np.float64("nan"))
    assert math.isnan(x.val)


def test_too_large_an_int_is_an_overflow_error_like_float():
    with pytest.raises(OverflowError):
        float(10 ** 400)
    results = [outcome(E.Var, 10 ** 400) for E in engines()]
    assert results[0][:2] == results[1][:2] == ("raise", OverflowError)
    results = [outcome(lambda: E.Var(1.0) + 10 ** 400) for E in engines()]
    assert results[0][:2] == results[1][:2] == ("raise", OverflowError)


# ------------------------------------------------------ unsupported operands

BAD_OPERANDS = [("str", "2"), ("None", None), ("list", [2.0]), ("complex", 2j),
                ("dict", {}), ("object", object()), ("Decimal", decimal.Decimal(2)),
                ("__float__", NotANumber())]
BINARY = [("+", lambda a, b: a + b), ("-", lambda a, b: a - b),
          ("*", lambda a, b: a * b), ("/", lambda a, b: a / b)]


@pytest.mark.parametrize("sym, f", BINARY, ids=[s for s, _ in BINARY])
@pytest.mark.parametrize("other", [v for _, v in BAD_OPERANDS],
                         ids=[k for k, _ in BAD_OPERANDS])
def test_unsupported_operand_on_either_side(sym, f, other):
    for E in engines():
        x = E.Var(2.0, req_grad=True)
        for args in ((x, other), (other, x)):
            with pytest.raises(TypeError) as info:
                f(*args)
            if not isinstance(other, (str, list)):   # sequences word it their own way
                assert "unsupported operand" in str(info.value)
        assert x.val == 2.0 and x.grad is None


@pytest.mark.parametrize("sym, f", BINARY, ids=[s for s, _ in BINARY])
def test_vars_of_the_two_engines_do_not_mix(sym, f):
    cy, py = engines()
    a, b = cy.Var(2.0, req_grad=True), py.Var(3.0, req_grad=True)
    with pytest.raises(TypeError):
        f(a, b)
    with pytest.raises(TypeError):
        f(b, a)


@pytest.mark.parametrize("exponent", ["2", None, [2], 2j, decimal.Decimal(2), NotANumber()],
                         ids=["str", "None", "list", "complex", "Decimal", "__float__"])
def test_pow_with_a_non_number_exponent(Var, exponent):
    x = Var(2.0, req_grad=True)
    with pytest.raises(TypeError, match="unsupported operand"):
        x ** exponent


def test_pow_with_var_operands_and_modulo(Var):
    x, y = Var(2.0, req_grad=True), Var(3.0, req_grad=True)
    with pytest.raises(TypeError):
        x ** y                    # the exponent must be a plain number
    with pytest.raises(TypeError):
        2 ** x                    # no number ** Var
    with pytest.raises(TypeError):
        pow(x, 2, 3)              # no modulo
    with pytest.raises(OverflowError):   # like float(10 ** 400)
        x ** 10 ** 400
    assert x.grad is None and y.grad is None


def test_unsupported_operators(Var):
    x = Var(2.0, req_grad=True)
    for f in (lambda: x // 2, lambda: x % 2, lambda: x @ x, lambda: x < "1",
              lambda: divmod(x, 2), lambda: x & 1, lambda: x < None, lambda: [1] >= x):
        with pytest.raises(TypeError):
            f()


def test_the_same_message_from_both_engines_for_unsupported_operands():
    """Python builds these messages from the type names: only the module differs."""
    for f in (lambda V: V(1.0) + "a", lambda V: None * V(1.0), lambda V: V(1.0) ** "a",
              lambda V: V(1.0) / [1]):
        messages = [outcome(f, E.Var) for E in engines()]
        assert messages[0][1] is messages[1][1] is TypeError
        assert messages[0][2].replace("regrad._core.", "") == messages[1][2]


# ------------------------------------------------------------------- backward

@pytest.mark.parametrize("dy", ["1.0", [1.0], 1j, (1,), decimal.Decimal(1), object()],
                         ids=["str", "list", "complex", "tuple", "Decimal", "object"])
def test_backward_with_a_non_numeric_dy(Var, dy):
    x = Var(2.0, req_grad=True)
    y = x * x + 1
    with pytest.raises(TypeError, match="dy must be a real number"):
        y.backward(dy)
    assert x.grad is None              # nothing touched ...
    y.backward(2)                      # ... and nothing released
    assert x.grad == 8.0


def test_backward_with_a_var_as_dy(engine):
    x = engine.Var(2.0, req_grad=True)
    y = x * 3
    with pytest.raises(TypeError, match="dy must be a real number"):
        y.backward(engine.Var(1.0))
    with pytest.raises(TypeError, match="dy must be a real number"):
        x.backward("1")              # a leaf checks dy too
    assert x.grad is None
    y.backward()
    assert x.grad == 3.0


def test_backward_dy_numbers(Var):
    np = pytest.importorskip("numpy")
    for dy, expected in [(True, 3.0), (2, 6.0), (np.float64(0.5), 1.5),
                         (fractions.Fraction(1, 2), 1.5), (np.int32(-1), -3.0)]:
        x = Var(2.0, req_grad=True)
        (x * 3).backward(dy)
        assert x.grad == expected


def test_backward_twice(Var):
    x = Var(2.0, req_grad=True)
    y = (x * x).exp() + x
    y.backward()
    first = x.grad
    with pytest.raises(RuntimeError, match="retain_graph=True") as info:
        y.backward()
    assert "released" in str(info.value)
    assert x.grad == first             # nothing added by the failed call
    with pytest.raises(RuntimeError):
        y.backward(retain_graph=True)  # retain_graph cannot bring the graph back
    assert x.grad == first


def test_backward_twice_same_message_from_both_engines():
    messages = []
    for E in engines():
        x = E.Var(2.0, req_grad=True)
        y = x.log() * 2
        y.backward()
        messages.append(outcome(y.backward))
    assert messages[0] == messages[1]
    assert messages[0][1] is RuntimeError


def test_backward_through_a_part_released_by_another_root(Var):
    """A second root sharing a released interior raises before touching any
    gradient: the leaves it reaches through unreleased paths keep theirs."""
    x = Var(2.0, req_grad=True)
    w = Var(5.0, req_grad=True)
    z = x.sin() * x
    y1 = z + 1
    y1.backward()
    gx = x.grad
    y2 = w * w + z * 3                 # z was released by y1's backward
    with pytest.raises(RuntimeError, match="released"):
        y2.backward()
    assert x.grad == gx and w.grad is None
    # the unreleased part is still whole and can be differentiated
    (w * w).backward()
    assert w.grad == 10.0


@pytest.mark.parametrize("make", [
    lambda V: V(2.0),
    lambda V: V(2.0) * 3,
    lambda V: V(2.0).exp() + V(1.0),
    lambda V: V(2.0) ** 2,
], ids=["leaf", "constant result", "constant expression", "constant pow"])
def test_backward_without_grad(Var, make):
    y = make(Var)
    assert y.req_grad is False
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward(1.0, retain_graph=True)


def test_backward_without_grad_same_message_from_both_engines():
    messages = [outcome(lambda: (E.Var(1.0) * 2).backward()) for E in engines()]
    assert messages[0] == messages[1] == ("raise", RuntimeError, ops.NO_GRAD_MESSAGE)


# --------------------------------------------------------- assigning values

@pytest.mark.parametrize("value", ["1.0", None, [1.0], 1j, decimal.Decimal(1), NotANumber()],
                         ids=["str", "None", "list", "complex", "Decimal", "__float__"])
def test_assigning_a_non_number_to_val(engine, value):
    x = engine.Var(2.0, req_grad=True)
    y = x * x
    for v in (x, y):
        before = v.val
        with pytest.raises(TypeError, match="val must be a real number"):
            v.val = value
        assert v.val == before           # unchanged by the failed assignment
    with pytest.raises(TypeError):
        x.val = engine.Var(1.0)
    y.backward()
    assert x.grad == 4.0


def test_assigning_numbers_to_val(Var):
    np = pytest.importorskip("numpy")
    x = Var(2.0)
    for value, expected in [(True, 1.0), (3, 3.0), (np.float32(0.5), 0.5),
                            (fractions.Fraction(3, 4), 0.75), (inf, inf)]:
        x.val = value
        assert type(x.val) is float and x.val == expected
    x.val = nan
    assert math.isnan(x.val)


@pytest.mark.parametrize("value", ["1.0", [1.0], 1j, object()],
                         ids=["str", "list", "complex", "object"])
def test_assigning_a_non_number_to_grad(Var, value):
    x = Var(2.0, req_grad=True)
    (x * 2).backward()
    with pytest.raises(TypeError, match="grad must be a real number"):
        x.grad = value
    assert x.grad == 2.0


def test_assigning_a_grad_to_a_result_or_req_grad_of_a_result(Var):
    x = Var(2.0, req_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError):
        y.grad = 1.0
    with pytest.raises(RuntimeError):
        y.req_grad = False
    y.grad = None                     # always allowed (what zero_grad may do)
    assert y.grad is None and y.req_grad is True
    y.backward()
    assert x.grad == 2.0


@pytest.mark.parametrize("action, attr", [
    ("set", "op"), ("set", "src"), ("set", "name"),
    ("del", "op"), ("del", "src"), ("del", "name"),
    ("del", "val"), ("del", "grad"), ("del", "req_grad"),
])
def test_attributes_that_cannot_be_set_or_deleted(action, attr):
    """The graph's structure is read-only and no attribute can be deleted:
    the same AttributeError from both engines, and the graph unharmed."""
    results, graphs = [], []
    for E in engines():
        x = E.Var(2.0, req_grad=True)
        y = x * x
        if action == "set":
            r = outcome(setattr, y, attr, None)
        else:
            r = outcome(delattr, y, attr)
        results.append(r[:2])
        graphs.append((x, y))
    assert results == [("raise", AttributeError)] * 2, results
    for x, y in graphs:
        assert y.val == 4.0 and y.name == "Mul" and y.src == (x, x)
        y.backward()
        assert x.grad == 4.0


# ------------------------------------------------ released graphs stay sound

def _run(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_released_result_still_describes_itself(engine_name):
    """After backward() released the graph, a result still says which operator
    made it (``op``, ``name``); only its links to its inputs are gone. Run in a
    subprocess: reading a released node must not crash the interpreter."""
    proc = _run(f"""
        import regrad
        from regrad import ops
        Var = regrad.get_engine({engine_name!r}).Var
        x = Var(3.0, req_grad=True)
        results = [x ** 2, x ** -0.5, x * x, x.exp(), -x, x / 2.0]
        expected = [ops.Pow(2.0), ops.Pow(-0.5), ops.OPS_BY_NAME["Mul"],
                    ops.OPS_BY_NAME["Exp"], ops.OPS_BY_NAME["Neg"], ops.OPS_BY_NAME["Div"]]
        for y, op in zip(results, expected):
            y.backward()
            assert y.src is None, y.src
            assert y.name == op.name, (y.name, op)
            assert str(y) == repr(y.val) and repr(y) == f"Var({{y.val!r}}, op={{op!r}})"
            assert y.op == op, (y.op, op)
        print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", (
        f"exit status {proc.returncode} (negative: killed by that signal)\n{proc.stderr[-3000:]}")


# ---------------------------------------------- derivatives never raise

@pytest.mark.parametrize("f, new_value", [
    (lambda x: x.log(), 0.0),
    (lambda x: 1 / x, 0.0),
    (lambda x: x / x, 0.0),
    (lambda x: x ** 0.5, -4.0),
    (lambda x: x ** -1.5, 0.0),
    (lambda x: x.sin(), inf),
    (lambda x: x.cos(), -inf),
    (lambda x: x.tanh() * x.sin(), inf),
], ids=["log", "rdiv", "div", "pow0.5", "pow-1.5", "sin", "cos", "tanh*sin"])
def test_backward_after_an_input_changed_never_raises(f, new_value):
    """``.val`` is writable: an input moved out of an operator's domain between
    forward and backward makes its derivative inf or nan (IEEE, as C computes
    it), never an exception halfway through backward, and the same in both
    engines."""
    results = []
    for E in engines():
        x = E.Var(2.0, req_grad=True)
        w = E.Var(1.5, req_grad=True)
        y = w * 2 + f(x)
        x.val = new_value
        r = outcome(y.backward)
        results.append((r[:2], w.grad, x.grad))
    for r, w_grad, x_grad in results:
        assert r[0] == "ok", r
        assert w_grad == 2.0
        assert isinstance(x_grad, float) and not math.isfinite(x_grad), x_grad
    assert same_float(results[0][2], results[1][2]), results


# ------------------------------------------------- IEEE NaN and infinities

try:
    import torch
except ImportError:             # only the tests marked needs_torch use it
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is the reference here")

UNARY = [
    ("neg", lambda x: -x, lambda t: -t), ("exp", lambda x: x.exp(), lambda t: t.exp()),
    ("log", lambda x: x.log(), lambda t: t.log()), ("sqrt", lambda x: x.sqrt(), lambda t: t.sqrt()),
    ("sin", lambda x: x.sin(), lambda t: t.sin()), ("cos", lambda x: x.cos(), lambda t: t.cos()),
    ("tanh", lambda x: x.tanh(), lambda t: t.tanh()), ("relu", lambda x: x.relu(), lambda t: t.relu()),
    ("sigmoid", lambda x: x.sigmoid(), lambda t: t.sigmoid()), ("abs", lambda x: x.abs(), lambda t: t.abs()),
    ("pow2", lambda x: x ** 2, lambda t: t ** 2), ("pow3", lambda x: x ** 3, lambda t: t ** 3),
    ("pow-1", lambda x: x ** -1, lambda t: t ** -1), ("pow-2", lambda x: x ** -2, lambda t: t ** -2),
    ("pow0", lambda x: x ** 0, lambda t: t ** 0), ("pow1.5", lambda x: x ** 1.5, lambda t: t ** 1.5),
    ("pow_inf", lambda x: x ** inf, lambda t: t ** inf),
    ("pow_nan", lambda x: x ** nan, lambda t: t ** nan),
    ("mul_self", lambda x: x * x, lambda t: t * t), ("add_self", lambda x: x + x, lambda t: t + t),
    ("sub_self", lambda x: x - x, lambda t: t - t), ("rdiv", lambda x: 1 / x, lambda t: 1 / t),
    ("div2", lambda x: x / 2, lambda t: t / 2), ("mul0", lambda x: x * 0, lambda t: t * 0),
]
SPECIAL = [nan, inf, -inf, 1e308, -1e308, 1e-320, 5e-324]


def _special_cases():
    for name, f, ft in UNARY:
        for v in SPECIAL:
            yield pytest.param(f, ft, v, id=f"{name}({v!r})")


def _torch_value_and_grad(ft, v):
    t = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    out = ft(t)
    out.backward()
    return out.item(), t.grad.item()


@needs_torch
@pytest.mark.parametrize("f, ft, v", list(_special_cases()))
def test_nan_and_infinities_propagate_like_torch(Var, f, ft, v):
    x = Var(v, req_grad=True)
    r = outcome(f, x)
    if r[0] == "raise":
        # only the error table's cases raise: a domain, pole or overflow error
        assert r[1] in (ValueError, ZeroDivisionError, OverflowError)
        return
    y = r[1]
    y.backward()
    value, grad = _torch_value_and_grad(ft, v)
    assert same_float(y.val, value), (y.val, value)
    assert same_float(x.grad, grad), (x.grad, grad)


def test_which_special_values_raise():
    """The special values that raise are exactly the error table's domain,
    pole and overflow errors; everything else propagates."""
    raising = set()
    for name, f, _ in UNARY:
        for v in SPECIAL:
            results = [outcome(f, E.Var(v, req_grad=True)) for E in engines()]
            assert results[0][0] == results[1][0], (name, v)
            if results[0][0] == "raise":
                assert results[0][1:] == results[1][1:], (name, v, results)
                raising.add((name, v))
    expected = {("log", -inf), ("log", -1e308), ("sqrt", -inf), ("sqrt", -1e308),
                ("sin", inf), ("sin", -inf), ("cos", inf), ("cos", -inf),
                ("exp", 1e308), ("pow2", 1e308), ("pow2", -1e308), ("pow3", 1e308),
                ("pow3", -1e308), ("pow-1", 1e-320), ("pow-1", 5e-324),
                ("pow-2", 1e-320), ("pow-2", 5e-324), ("pow1.5", 1e308),
                ("pow1.5", -inf), ("pow1.5", -1e308)}
    assert raising == expected, sorted(raising ^ expected)


def test_special_values_give_both_engines_the_same_bits():
    """Without a reference at hand, the engines still agree: every special
    value through every operator gives the same value and gradient bits."""
    for name, f, _ in UNARY:
        for v in SPECIAL:
            results = []
            for E in engines():
                x = E.Var(v, req_grad=True)
                r = outcome(f, x)
                if r[0] == "ok":
                    r[1].backward()
                    r = ("ok", r[1].val, x.grad)
                results.append(r)
            assert results[0][0] == results[1][0], (name, v)
            if results[0][0] == "ok":
                assert all(same_float(p, q) and math.copysign(1, p) == math.copysign(1, q)
                           for p, q in zip(results[0][1:], results[1][1:])), (name, v, results)


@needs_torch
@pytest.mark.parametrize("f, ft, a, b", [
    (lambda a, b: a + b, lambda a, b: a + b, inf, -inf),
    (lambda a, b: a - b, lambda a, b: a - b, inf, inf),
    (lambda a, b: a * b, lambda a, b: a * b, inf, 0.0),
    (lambda a, b: a * b, lambda a, b: a * b, 1e200, 1e200),
    (lambda a, b: a / b, lambda a, b: a / b, inf, inf),
    (lambda a, b: a / b, lambda a, b: a / b, 1e300, 1e-10),
    (lambda a, b: a / b, lambda a, b: a / b, 1.0, inf),
    (lambda a, b: a / b, lambda a, b: a / b, nan, 2.0),
    (lambda a, b: (a * b).exp(), lambda a, b: (a * b).exp(), -inf, 1.0),
    (lambda a, b: (a / b).tanh(), lambda a, b: (a / b).tanh(), 1e300, 1e-300),
    (lambda a, b: (a - b).sigmoid(), lambda a, b: (a - b).sigmoid(), -inf, 1.0),
    (lambda a, b: (a * b).log(), lambda a, b: (a * b).log(), inf, 2.0),
    (lambda a, b: (a * a + b).sqrt(), lambda a, b: (a * a + b).sqrt(), 1e200, 1.0),
], ids=["inf+-inf", "inf-inf", "inf*0", "overflowing mul", "inf/inf", "overflowing div",
        "1/inf", "nan/2", "exp(-inf)", "tanh(inf)", "sigmoid(-inf)", "log(inf)", "sqrt(inf)"])
def test_ieee_arithmetic_with_two_inputs_like_torch(Var, f, ft, a, b):
    x, y = Var(a, req_grad=True), Var(b, req_grad=True)
    out = f(x, y)
    out.backward()
    tx = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    ty = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    tout = ft(tx, ty)
    tout.backward()
    assert same_float(out.val, tout.item())
    assert same_float(x.grad, tx.grad.item()), (x.grad, tx.grad.item())
    assert same_float(y.grad, ty.grad.item()), (y.grad, ty.grad.item())


def test_nan_flows_through_a_whole_graph(Var):
    """A NaN input makes every value downstream NaN and the gradient NaN,
    without an exception, as in PyTorch."""
    x = Var(nan, req_grad=True)
    w = Var(0.5, req_grad=True)
    y = ((x * w).tanh() + (w * x).exp().sigmoid() + (x ** 2 + 1).log()).abs()
    assert math.isnan(y.val)
    y.backward()
    assert math.isnan(x.grad) and math.isnan(w.grad)


@needs_torch
def test_derivatives_overflow_to_infinity_instead_of_raising(Var):
    """Values in range whose derivatives are not: IEEE infinities, as in PyTorch."""
    cases = [(lambda x: x ** -1, lambda t: t ** -1, 1e-200),
             (lambda x: x ** 0.5, lambda t: t ** 0.5, 0.0),
             (lambda x: x.sqrt(), torch.sqrt, 0.0),
             (lambda x: x.log(), torch.log, 5e-324),
             (lambda x: 1 / x, lambda t: 1 / t, 1e-200),
             (lambda x: x ** -0.5, lambda t: t ** -0.5, 1e-300)]
    for f, ft, v in cases:
        x = Var(v, req_grad=True)
        y = f(x)
        y.backward()
        value, grad = _torch_value_and_grad(ft, v)
        assert same_float(y.val, value), (v, y.val, value)
        assert math.isinf(x.grad) and same_float(x.grad, grad), (v, x.grad, grad)


# ------------------------------------------------------------ replayed errors

def _sqrt_then_sqrt(x):
    e = x.sqrt()                  # fails first when x < 0 ...
    f = (x + x).sqrt()            # ... before this one, which the tape puts first
    return f + e


def _div_then_log(x):
    e = 1.0 / x                   # ZeroDivisionError at 0 ...
    f = (x * 2.0).log() * x       # ... before a ValueError
    return (f + e) * x


def _late_failure_downstream(x):
    a = (x * 3.0).log()           # the first to fail, deep in the graph
    b = x.sqrt() * a              # fed by it: NaN must not change the answer
    c = (x - 1.5).sqrt()
    return c + b * 2.0


@pytest.mark.parametrize("program, bad", [(_sqrt_then_sqrt, -1.0), (_div_then_log, 0.0),
                                          (_late_failure_downstream, -1.0)],
                         ids=["sqrt-sqrt", "div-log", "downstream"])
def test_replay_raises_what_the_dynamic_engine_raises(engine, program, bad):
    """A tape replayed at values that leave a domain raises the error the
    program raises when built again at those values: of the failing nodes,
    the one the program made first, whatever the tape's order."""
    Var = engine.Var
    x = Var(2.0, req_grad=True)
    root = program(x)
    tape = regrad.compile(root)
    before = root.val
    x.val = bad
    with pytest.raises(Exception) as dynamic:
        program(Var(bad, req_grad=True))
    with pytest.raises(Exception) as replayed:
        tape.forward()
    assert type(replayed.value) is type(dynamic.value)
    assert str(replayed.value) == str(dynamic.value)
    assert replayed.value.__context__ is None      # not "during handling of ..."
    assert root.val == before
    x.val = 2.0                                    # and the tape still replays
    assert tape.forward() == before


def test_replay_errors_leave_the_tape_usable(engine):
    """A replay that raises keeps the root's previous value and the leaves'
    gradients, and the tape replays again once the values are back in range."""
    Var = engine.Var
    x = Var(4.0, req_grad=True)
    w = Var(2.0, req_grad=True)
    root = (x * w).log() + (x * x).sqrt() / w     # one node can fail: the log
    tape = regrad.compile(root)
    expected = math.log(8.0) + 2.0
    assert tape.forward() == expected
    tape.backward()
    grads = (x.grad, w.grad)
    for bad in (-1.0, 0.0, -math.inf):
        x.val = bad
        with pytest.raises(ValueError, match=r"^Log\("):
            tape.forward()
        assert root.val == expected and (x.grad, w.grad) == grads
    x.val = 4.0
    assert tape.forward() == expected
    x.grad = w.grad = None
    tape.backward()
    assert (x.grad, w.grad) == grads
    with pytest.raises(TypeError):
        tape.backward("1")


# ------------------------------------------------------------- numpy.bool_

def test_numpy_bool_is_accepted_like_bool(engine):
    """numpy does not register numpy.bool_ as a numbers.Real, but it is the
    bool numpy comparisons give: every place that takes a number takes it,
    with the result bool gives."""
    np = pytest.importorskip("numpy")
    Var = engine.Var
    assert Var(np.float64(1) > 0).val == 1.0 and Var(np.False_).val == 0.0
    x = Var(2.0, req_grad=True)
    x.val = np.True_
    assert x.val == 1.0 and type(x.val) is float
    x.val = 2.0
    x.grad = np.True_
    assert x.grad == 1.0
    x.grad = None
    outcomes = []
    for flag in (True, np.True_):
        w = Var(3.0, req_grad=True)
        y = w * flag + flag * w - w / np.float64(1) + w ** flag + (flag - w) + abs(w) ** False
        y.backward(dy=flag)
        assert type(y.val) is float
        outcomes.append((y.val, w.grad))
        w.grad = None
        z = w * 2.0 + 1.0
        tape = regrad.compile(z, retain_graph=True)
        inp = [leaf for leaf in tape.leaves if leaf is not w and leaf.val == 1.0]
        tape.load(inp, [flag])
        tape.backward(dy=flag)
        outcomes.append((tape.forward(), w.grad))
        w.backward(dy=flag)
        outcomes.append(w.grad)
    assert outcomes[:3] == outcomes[3:]
    assert (x < np.True_) is False and (x >= np.False_) is True
    with pytest.raises(TypeError):
        Var(np.array([True]).tolist)     # a bound method is not a number


# ------------------------------------------- which released result is named

def _released_message(engine, via_tape):
    w = engine.Var(0.3, req_grad=True)
    a, b = w.tanh(), w - 1
    a.backward()
    b.backward()
    y = a.exp() + b.sin()
    return outcome(regrad.compile if via_tape else lambda r: r.backward(), y)


def test_released_graph_error_names_the_same_result_everywhere():
    """Both engines and both tapes name, of the released results a graph
    reaches, the one the program made first (their traversals differ)."""
    got = [_released_message(e, via_tape) for e in engines() for via_tape in (False, True)]
    assert len(set(got)) == 1
    assert got[0][1] is RuntimeError and "(Tanh result)" in got[0][2]
    # made the other way round, the other one is named
    for e in engines():
        w = e.Var(0.3, req_grad=True)
        b, a = w - 1, w.tanh()
        a.backward()
        b.backward()
        for run in (lambda r: r.backward(), regrad.compile):
            assert "(Sub result)" in outcome(run, a.exp() + b.sin())[2]
