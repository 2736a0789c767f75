"""The operator table: every operator regrad knows, its forward value and its
local derivatives side by side.

This module is the single list of operators. Each class declares an
operator once: its ``name``, drawing ``symbol``, op ``code``, ``arity``, the
``Var`` ``method`` that applies it (if any), its ``formula``, ``derivatives``
and ``domain`` in words (``doc/ops.md`` is generated from them), and its
``forward`` and ``backward`` in Python. The pure-Python engine
(``regrad.pure``) calls ``forward``/``backward``; the compiled engine takes
its codes from ``regrad/_opcodes.h``, which ``doc/make_ops.py`` writes from
this table (it refuses to import if they differ), and its arities from this
table, and runs the same formulas as C functions (``regrad/_opdefs.h``, called
by switches made of the header's lists of operators); the graph tools read
``name``, ``symbol`` and ``args``. See CONTRIBUTING.md's "Adding an operator".

Errors follow Python's ``float`` and ``math``: a domain error raises
``ValueError``, a division by zero ``ZeroDivisionError``, an overflow
``OverflowError``, each message naming the operator. Derivatives never raise:
they follow IEEE arithmetic (an infinite slope is ``inf``), as PyTorch does.
"""
import math
import numbers
import sys

__all__ = ["Op", "OPS", "OPS_BY_NAME", "OPS_BY_CODE", "Pow", "to_float", "is_real", "math_error",
           "released_error", "NO_GRAD_MESSAGE", "IN_ANOTHER_PASS_MESSAGE", "BACKWARD_CREATE_GRAPH_MESSAGE", "var_repr",
           "engine_of",
           "check_label", "ADD", "SUB", "MUL", "DIV", "NEG"]

inf = math.inf


def is_real(x):
    """Whether ``x`` is a real number regrad accepts: a ``numbers.Real`` (int,
    bool, float, Fraction, numpy's numbers) or a ``numpy.bool_``, which numpy
    does not register as a number although Python's ``bool`` is one."""
    if isinstance(x, numbers.Real):
        return True
    np = sys.modules.get("numpy")    # no numpy imported: x cannot be a numpy.bool_
    return np is not None and isinstance(x, np.bool_)


def to_float(x, what="value"):
    """Convert a real number (int, bool, float, numpy scalar or bool, Fraction) to float.

    Anything else (str, None, complex, list, Var) raises TypeError.
    """
    if type(x) is float:
        return x
    if is_real(x):
        return float(x)
    raise TypeError(f"{what} must be a real number, not {type(x).__name__}")


def math_error(op_name, kind, *inputs):
    """Build the exception an operator raises on a domain or range error.

    Shared by both engines so that their messages are identical.
    ``kind`` is one of "domain", "zero", "overflow".
    """
    shown = ", ".join(repr(float(x)) for x in inputs)
    if kind == "domain":
        return ValueError(f"{op_name}({shown}): math domain error")
    if kind == "zero":
        return ZeroDivisionError(f"{op_name}({shown}): division by zero")
    return OverflowError(f"{op_name}({shown}): result too large")


def released_error(op_name):
    """The error for a backward through a graph that an earlier backward freed."""
    return RuntimeError(
        f"backward through a released graph ({op_name} result): the graph was "
        "freed by an earlier backward(); pass retain_graph=True to keep it")


BACKWARD_CREATE_GRAPH_MESSAGE = (
    "backward(create_graph=True): .grad holds a number, not a Var; use "
    "regrad.grad(y, [x, ...], create_graph=True), which returns the gradients as Vars")

# a backward started, from an operator defined in Python (regrad.Function), in the
# middle of another backward over the same nodes
IN_ANOTHER_PASS_MESSAGE = ("regrad: this graph is being differentiated by another backward "
                           "(from an operator defined in Python)")

NO_GRAD_MESSAGE = ("backward() on a Var that does not require grad "
                   "(no input of its graph has req_grad=True)")


_ENGINES = ("regrad._core", "regrad.pure")


def engine_of(x):
    """The engine module of a Var (``regrad._core`` or ``regrad.pure``); None for anything else."""
    t = type(x)
    if t.__name__ == "Var" and t.__module__ in _ENGINES:
        return sys.modules[t.__module__]
    return None


def var_repr(var):
    """``repr`` of a Var in both engines: ``Var(1.5, req_grad=True)``, ``Var(0.25, op=Mul)``."""
    parts = [repr(var.val)]
    if var.op is not None:
        parts.append(f"op={var.op!r}")
    elif var.req_grad:
        parts.append("req_grad=True")
    if var.label is not None:
        parts.append(f"label={var.label!r}")
    return f"Var({', '.join(parts)})"


def check_label(label):
    """A Var's label: a str (kept as an exact str) or None; anything else raises TypeError."""
    if label is None or type(label) is str:
        return label
    if isinstance(label, str):
        return str.__str__(label)   # a plain copy: no subclass code runs later
    raise TypeError(f"label must be a str or None, not {type(label).__name__}")


# Derivatives follow IEEE arithmetic as C computes it, never raising even when
# an input's .val was moved out of the operator's domain after the forward pass.

def _ieee_div(x, y):
    """x / y as C computes it: +-inf or nan where Python raises."""
    try:
        return x / y
    except ZeroDivisionError:
        if x != x or x == 0.0:
            return math.nan
        return math.copysign(inf, x) * math.copysign(1.0, y)


def _ieee_pow(x, y):
    """x ** y as C's pow computes it: inf or nan where Python raises or goes complex."""
    if x < 0.0 and math.isfinite(x) and math.isfinite(y) and y != math.floor(y):
        return math.nan
    try:
        return x ** y
    except (ZeroDivisionError, OverflowError):
        odd_integer = y == int(y) and int(y) % 2 == 1
        negative = math.copysign(1.0, x) < 0
        return -inf if (negative and odd_integer) else inf


def _ieee_sin(x):
    return math.sin(x) if not math.isinf(x) else math.nan


def _ieee_cos(x):
    return math.cos(x) if not math.isinf(x) else math.nan


class Op:
    """An operator: ``forward`` computes the value from the inputs' values,
    ``backward`` returns the gradient flowing to each input given the
    gradient ``g`` of the output (``out`` is the output's value).

    ``backward_vars`` is ``backward`` written with Vars: ``out`` and the
    inputs are the graph's Vars, ``g`` a Var, and the gradients it returns are
    Vars built by regrad's own operators, so that the backward pass is itself
    a graph (``regrad.grad(..., create_graph=True)``). Its float operations
    are ``backward``'s, in the same order, so both give the same numbers.
    ``None`` stands for a gradient that is zero whatever ``g`` is (relu below
    its kink), which adds no node. An operator without it can be
    differentiated once, not twice."""

    name = "Op"       # shown in drawings and as Var.name
    symbol = "?"      # short label for drawings
    code = -1         # the compiled engine's op code (0 is a leaf)
    arity = 0         # number of Var inputs
    method = None     # the Var method that applies it, for operators without a symbol
    formula = ""      # the value, in terms of the inputs a (and b)
    derivatives = ()  # d(out)/d(input), one per input
    domain = "all real numbers"
    __slots__ = ()

    @property
    def args(self):
        """The operator's arguments beyond its inputs, e.g. {"power": 2.0}."""
        return {}

    backward_vars = None

    def __repr__(self):
        if self.args:
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in self.args.items())
            return f"{self.name}({shown})"
        return self.name

    def __eq__(self, other):
        return type(self) is type(other) and self.args == other.args

    def __hash__(self):
        return hash((self.name, tuple(self.args.items())))


def _fmt(v):
    return repr(int(v)) if float(v).is_integer() else repr(v)


# ---------------------------------------------------------------- binary ops

class Add(Op):
    name, symbol, code, arity = "Add", "+", 1, 2
    formula, derivatives = "a + b", ("1", "1")
    __slots__ = ()

    def forward(self, a, b):
        return a + b

    def backward(self, out, g, a, b):
        return g, g

    def backward_vars(self, out, g, a, b):
        return g, g


class Sub(Op):
    name, symbol, code, arity = "Sub", "-", 2, 2
    formula, derivatives = "a - b", ("1", "-1")
    __slots__ = ()

    def forward(self, a, b):
        return a - b

    def backward(self, out, g, a, b):
        return g, -g

    def backward_vars(self, out, g, a, b):
        return g, -g


class Mul(Op):
    name, symbol, code, arity = "Mul", "*", 3, 2
    formula, derivatives = "a * b", ("b", "a")
    __slots__ = ()

    def forward(self, a, b):
        return a * b

    def backward(self, out, g, a, b):
        return g * b, g * a

    def backward_vars(self, out, g, a, b):
        return g * b, g * a


class Div(Op):
    name, symbol, code, arity = "Div", "/", 4, 2
    formula, derivatives = "a / b", ("1 / b", "-(a / b) / b")
    domain = "b != 0, else ZeroDivisionError"
    __slots__ = ()

    def forward(self, a, b):
        if b == 0.0:
            raise math_error("Div", "zero", a, b)
        return a / b

    def backward(self, out, g, a, b):
        # d(a/b)/db = -a/b**2, computed as -(a/b)/b to avoid overflowing b*b
        return _ieee_div(g, b), -g * _ieee_div(out, b)

    def backward_vars(self, out, g, a, b):
        return g / b, -g * (out / b)


# ----------------------------------------------------------------- unary ops

class Neg(Op):
    name, symbol, code, arity = "Neg", "-", 5, 1
    formula, derivatives = "-a", ("-1",)
    __slots__ = ()

    def forward(self, a):
        return -a

    def backward(self, out, g, a):
        return (-g,)

    def backward_vars(self, out, g, a):
        return (-g,)


class Pow(Op):
    """``x ** power`` for a number ``power``; the only operator with an argument."""
    name, symbol, code, arity = "Pow", "**", 6, 1
    formula, derivatives = "a ** p, p a number", ("p * a ** (p - 1), and 0 when p == 0",)
    domain = ("a != 0 when p < 0, else ZeroDivisionError; a >= 0 when p is not a whole number, "
              "else ValueError; OverflowError when the result is too large")
    __slots__ = ("power",)

    def __init__(self, power):
        self.power = power

    @property
    def args(self):
        return {"power": self.power}

    def forward(self, a):
        p = self.power
        if a == 0.0 and p < 0.0 and math.isfinite(p):
            raise math_error("Pow", "zero", a, p)
        if a < 0.0 and math.isfinite(p) and p != math.floor(p):
            raise math_error("Pow", "domain", a, p)  # never a complex result
        try:
            return a ** p
        except OverflowError:
            raise math_error("Pow", "overflow", a, p) from None

    def backward(self, out, g, a):
        p = self.power
        if p == 0.0:  # a ** 0 is constant, even at a == 0 (as in PyTorch)
            return (0.0,)
        return (g * (p * _ieee_pow(a, p - 1.0)),)

    def backward_vars(self, out, g, a):
        p = self.power
        if p == 0.0:
            return (None,)
        return (g * (p * a ** (p - 1.0)),)


class Exp(Op):
    name, symbol, code, arity = "Exp", "exp", 7, 1
    method = "exp"
    formula, derivatives = "e ** a", ("exp(a)",)
    domain = "OverflowError when the result is too large (a > 709.78)"
    __slots__ = ()

    def forward(self, a):
        try:
            return math.exp(a)
        except OverflowError:
            raise math_error("Exp", "overflow", a) from None

    def backward(self, out, g, a):
        return (g * out,)

    def backward_vars(self, out, g, a):
        return (g * out,)


class Log(Op):
    name, symbol, code, arity = "Log", "log", 8, 1
    method = "log"
    formula, derivatives = "ln(a)", ("1 / a",)
    domain = "a > 0, else ValueError"
    __slots__ = ()

    def forward(self, a):
        if a <= 0.0:
            raise math_error("Log", "domain", a)
        return math.log(a)

    def backward(self, out, g, a):
        return (_ieee_div(g, a),)

    def backward_vars(self, out, g, a):
        return (g / a,)


class Sqrt(Op):
    name, symbol, code, arity = "Sqrt", "sqrt", 9, 1
    method = "sqrt"
    formula, derivatives = "sqrt(a)", ("0.5 / sqrt(a), inf at 0",)
    domain = "a >= 0, else ValueError"
    __slots__ = ()

    def forward(self, a):
        if a < 0.0:
            raise math_error("Sqrt", "domain", a)
        return math.sqrt(a)

    def backward(self, out, g, a):
        # the slope at 0 is infinite (IEEE 0.5/0 = inf, as in C and PyTorch)
        return (g * _ieee_div(0.5, out),)

    def backward_vars(self, out, g, a):
        return (g * (0.5 / out),)


class Sin(Op):
    name, symbol, code, arity = "Sin", "sin", 10, 1
    method = "sin"
    formula, derivatives = "sin(a)", ("cos(a)",)
    domain = "finite a, else ValueError"
    __slots__ = ()

    def forward(self, a):
        if math.isinf(a):
            raise math_error("Sin", "domain", a)
        return math.sin(a)

    def backward(self, out, g, a):
        return (g * _ieee_cos(a),)

    def backward_vars(self, out, g, a):
        return (g * a.cos(),)


class Cos(Op):
    name, symbol, code, arity = "Cos", "cos", 11, 1
    method = "cos"
    formula, derivatives = "cos(a)", ("-sin(a)",)
    domain = "finite a, else ValueError"
    __slots__ = ()

    def forward(self, a):
        if math.isinf(a):
            raise math_error("Cos", "domain", a)
        return math.cos(a)

    def backward(self, out, g, a):
        return (g * -_ieee_sin(a),)

    def backward_vars(self, out, g, a):
        return (g * -a.sin(),)


class Tanh(Op):
    name, symbol, code, arity = "Tanh", "tanh", 12, 1
    method = "tanh"
    formula, derivatives = "tanh(a)", ("1 - tanh(a) ** 2",)
    __slots__ = ()

    def forward(self, a):
        return math.tanh(a)

    def backward(self, out, g, a):
        return (g * (1.0 - out * out),)

    def backward_vars(self, out, g, a):
        return (g * (1.0 - out * out),)


class Relu(Op):
    name, symbol, code, arity = "Relu", "relu", 13, 1
    method = "relu"
    formula, derivatives = "max(a, 0)", ("1 if a > 0 else 0",)
    __slots__ = ()

    def forward(self, a):
        return 0.0 if a <= 0.0 else a   # NaN passes through, as in PyTorch

    def backward(self, out, g, a):
        return (0.0 if a <= 0.0 else g,)  # slope 0 at exactly 0; NaN passes g, as in PyTorch

    def backward_vars(self, out, g, a):
        return (None if a <= 0.0 else g,)


class Sigmoid(Op):
    name, symbol, code, arity = "Sigmoid", "sigmoid", 14, 1
    method = "sigmoid"
    formula, derivatives = "1 / (1 + e ** -a)", ("sigmoid(a) * (1 - sigmoid(a))",)
    __slots__ = ()

    def forward(self, a):
        # two forms so that exp never overflows
        if a >= 0.0:
            return 1.0 / (1.0 + math.exp(-a))
        e = math.exp(a)
        return e / (1.0 + e)

    def backward(self, out, g, a):
        return (g * (out * (1.0 - out)),)

    def backward_vars(self, out, g, a):
        return (g * (out * (1.0 - out)),)


class Abs(Op):
    name, symbol, code, arity = "Abs", "abs", 15, 1
    method = "abs"
    formula, derivatives = "|a|", ("1 if a > 0, -1 if a < 0, 0 at 0",)
    __slots__ = ()

    def forward(self, a):
        return abs(a)

    def backward(self, out, g, a):
        return (g if a > 0.0 else (-g if a < 0.0 else 0.0),)  # slope 0 at 0

    def backward_vars(self, out, g, a):
        return (g if a > 0.0 else (-g if a < 0.0 else None),)


#: The operator table, in code order. Operators with no argument are shared
#: singletons; Pow (the class here) is made per use with its exponent.
ADD, SUB, MUL, DIV, NEG = Add(), Sub(), Mul(), Div(), Neg()
OPS = (ADD, SUB, MUL, DIV, NEG, Pow, Exp(), Log(), Sqrt(), Sin(), Cos(), Tanh(), Relu(),
       Sigmoid(), Abs())
OPS_BY_NAME = {op.name: op for op in OPS}
OPS_BY_CODE = {op.code: op for op in OPS}
#: Methods a Var offers for the operators without a symbol (``x.exp()``, ``x.relu()``, ...).
UNARY_METHODS = tuple(op.method for op in OPS if op.method)
