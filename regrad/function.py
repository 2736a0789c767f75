"""Operators defined in Python: ``regrad.Function``, as ``torch.autograd.Function``.

A subclass is an operator in the style of ``regrad/ops.py``: a ``name``, a
``forward`` that computes the value from the inputs' values, and a
``backward(out, g, *inputs)`` that returns the gradient flowing to each
input, side by side::

    class Softplus(regrad.Function):
        def forward(self, a):
            return max(a, 0.0) + math.log1p(math.exp(-abs(a)))

        def backward(self, out, g, a):
            return (g / (1.0 + math.exp(-a)),)

    softplus = Softplus()
    y = softplus(x)          # one node, drawn as "Softplus"

Such an operator is one node of the graph, on either engine (the compiled
one calls back into Python for these nodes only); ``backward_vars``, the
same derivative written with Vars, lets ``regrad.grad(..., create_graph=True)``
differentiate it again. A tape (``regrad.compile``) runs built-in operators
only and refuses it.

A subclass without ``backward`` is a *composite*: ``forward`` receives Vars
and is written with regrad's operators, which record themselves, so it needs
no derivative and runs everywhere a built-in operator does, tapes included.

Every call into the user's code is checked here, for both engines alike: an
exception gets a note naming the operator; a result that is not a number, a
wrong number of gradients, or a NaN from inputs that hold none raise
``TypeError`` or ``ValueError`` naming the operator.
"""
import inspect

from . import ops
from .ops import is_real

__all__ = ["Function"]


class Function(ops.Op):
    """The base of operators defined in Python (see the module's docstring).

    Class attributes: ``name`` (default: the class's name), ``symbol`` (the
    drawing's short label, default: the name), ``arity`` (default: the
    number of ``forward``'s parameters; set it in ``__init__`` for a
    ``forward(self, *xs)``)."""

    name = "Function"
    code = -1
    symbol = None
    arity = None
    backward = None       # a primitive operator defines it; a composite does not

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        body = cls.__dict__
        if "name" not in body:
            cls.name = cls.__name__
        if "symbol" not in body:
            cls.symbol = cls.name
        if "arity" not in body and cls.arity is None and "forward" in body:
            params = list(inspect.signature(body["forward"]).parameters.values())[1:]
            if all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params):
                cls.arity = len(params)
        # wrap the user's methods once, so every caller (both engines, regrad.grad,
        # jvp, drawings) gets the checked versions
        if cls.backward is not None:
            for method, check in (("forward", _checked_forward), ("backward", _checked_backward),
                                  ("backward_vars", _checked_backward_vars)):
                f = body.get(method)
                if f is not None and not getattr(f, "_regrad_checked", False):
                    setattr(cls, method, check(f, method))

    @property
    def args(self):
        """The numbers the instance keeps (``self.delta = delta`` in ``__init__``):
        shown in drawings and ``repr``, compared by ``==``."""
        return {k: v for k, v in getattr(self, "__dict__", {}).items()
                if is_real(v) and k != "arity"}

    def __call__(self, *inputs):
        name = self.name
        arity = self.arity
        if type(arity) is not int or arity < 1:
            raise TypeError(f"{name}: arity must be a whole number of inputs >= 1, not "
                            f"{arity!r} (for a forward(self, *xs), set self.arity in __init__)")
        if len(inputs) != arity:
            raise TypeError(f"{name} takes {arity} input{'s' if arity != 1 else ''}, "
                            f"got {len(inputs)}")
        engine = _engine_of(inputs, name)
        xs = tuple(x if isinstance(x, engine.Var) else engine.Var(x) for x in inputs)
        if self.backward is None:        # a composite: its parts record themselves
            out = self.forward(*xs)
            if not isinstance(out, engine.Var):
                if is_real(out):
                    return engine.Var(out)
                raise TypeError(f"{name}.forward must return a Var (it has no backward, so it "
                                f"is written with Vars), not {type(out).__name__}")
            return out
        return engine._apply_function(self, xs)


def _engine_of(inputs, name):
    """The engine module of the Var inputs (the default one if all are numbers)."""
    from . import get_engine
    engines = set()
    for i, x in enumerate(inputs):
        engine = ops.engine_of(x)
        if engine is not None:
            engines.add(engine)
        elif not is_real(x):
            raise TypeError(f"{name}: input {i} must be a Var or a real number, "
                            f"not {type(x).__name__}")
    if len(engines) > 1:
        raise TypeError(f"{name}: the inputs mix the compiled and the pure engine")
    return engines.pop() if engines else get_engine()


def _in_user_code(exc, op, method):
    exc.add_note(f"(raised in {op.name}.{method}, an operator defined in Python)")


def _no_nan(numbers):
    return not any(x != x for x in numbers)


def _checked_forward(f, method):
    def forward(self, *vals):
        try:
            out = f(self, *vals)
        except Exception as exc:
            _in_user_code(exc, self, method)
            raise
        if not is_real(out):
            raise TypeError(f"{self.name}.forward must return a real number, "
                            f"not {type(out).__name__}")
        out = float(out)
        if out != out and _no_nan(vals):
            raise ValueError(f"{self.name}.forward{_shown(vals)} returned nan")
        return out
    return _wrapped(forward, f)


def _checked_backward(f, method):
    def backward(self, out, g, *vals):
        try:
            grads = f(self, out, g, *vals)
        except Exception as exc:
            _in_user_code(exc, self, method)
            raise
        grads = _gradients(self, grads, len(vals), "a number", is_real)
        grads = tuple(0.0 if gx is None else float(gx) for gx in grads)
        if _no_nan((out, g) + vals):
            for i, gx in enumerate(grads):
                if gx != gx:
                    raise ValueError(f"{self.name}.backward returned nan as the gradient of "
                                     f"input {i} (inputs {_shown(vals)}, g = {g!r})")
        return grads
    return _wrapped(backward, f)


def _checked_backward_vars(f, method):
    def backward_vars(self, out, g, *xs):
        try:
            grads = f(self, out, g, *xs)
        except Exception as exc:
            _in_user_code(exc, self, method)
            raise
        return _gradients(self, grads, len(xs), "a Var",
                          lambda x: ops.engine_of(x) is not None or is_real(x),
                          "backward_vars")
    return _wrapped(backward_vars, f)


def _gradients(op, grads, n, kind, accepted, method="backward"):
    """The user's gradients as a tuple of n items, each accepted or None."""
    if n == 1 and (grads is None or accepted(grads)) and not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if not isinstance(grads, (tuple, list)):
        raise TypeError(f"{op.name}.{method} must return a tuple of {n} gradient"
                        f"{'s' if n != 1 else ''}, not {type(grads).__name__}")
    if len(grads) != n:
        raise TypeError(f"{op.name}.{method} returned {len(grads)} gradient"
                        f"{'s' if len(grads) != 1 else ''} for {n} input{'s' if n != 1 else ''}")
    for i, gx in enumerate(grads):
        if gx is not None and not accepted(gx):
            raise TypeError(f"{op.name}.{method}: the gradient of input {i} must be {kind} "
                            f"or None, not {type(gx).__name__}")
    return tuple(grads)


def _shown(vals):
    return "(" + ", ".join(repr(float(x)) for x in vals) + ")"


def _wrapped(checked, f):
    checked.__name__, checked.__qualname__, checked.__doc__ = f.__name__, f.__qualname__, f.__doc__
    checked.__wrapped__ = f
    checked._regrad_checked = True
    return checked


def pickled(op):
    """An operator defined in Python read from a pickled graph, or None if
    ``op`` is not one that can make a node."""
    if isinstance(op, Function) and op.backward is not None and type(op.arity) is int \
            and op.arity >= 1:
        return op
    return None


def tape_refusal(op):
    """The error ``regrad.compile`` raises for a graph holding ``op``."""
    return TypeError(
        f"regrad.compile: the graph holds {op.name}, an operator defined in Python with its own "
        f"backward, which a tape cannot run (it runs built-in operators only). Define "
        f"{op.name} without backward, its forward written with Vars, so that it is expanded "
        f"into built-in operators as it runs; or differentiate with backward() instead of a tape")

