"""Derivatives as functions: gradients of gradients, forward mode, checks.

- ``grad(outputs, inputs, ...)``: ``torch.autograd.grad``. The gradients of
  the outputs with respect to any Vars of their graph, returned rather than
  added into ``.grad``. With ``create_graph=True`` they are Vars whose graph
  records the backward pass itself (each operator's ``backward_vars`` in
  ``regrad.ops``), so they can be differentiated again, drawn, replayed.
- ``jvp(f, primals, tangents)``: forward mode, ``torch.func.jvp``/``jax.jvp``.
  One sweep over the recorded graph, inputs first, carries a tangent along
  each Var with the operators' own ``backward`` (a local derivative times
  the tangent).
- ``hvp(f, inputs, v)`` and ``hessian(f, inputs)``: forward over reverse,
  ``torch.autograd.functional``: one tangent sweep over the graph of the
  gradient gives a Hessian-vector product.
- ``gradcheck`` and ``gradgradcheck``: ``torch.autograd.gradcheck``. Central
  differences against the gradients regrad computes.

Everything here walks the graph through the public ``Var`` API (``src``,
``op``, ``val``), so both engines run the same code and give the same bits.
"""
import math

from . import ops
from ._messages import items_of, type_name
from .ops import engine_of as _engine_of
from .pure import Schedule

__all__ = ["grad", "jvp", "hvp", "hessian", "gradcheck", "gradgradcheck", "GradcheckError"]

def _vars(xs, what, fn):
    """A tuple of Vars from a Var or a sequence of Vars."""
    if _engine_of(xs) is not None:
        return (xs,)
    if type(xs).__name__ in ("Tape", "BatchTape"):
        raise TypeError(f"{fn}: {what} is a {type(xs).__name__}: a tape replays first derivatives "
                        "only; pass the Vars it recorded (the root, its leaves)")
    items = items_of(xs, f"{fn}: {what}", "a Var or a sequence of Vars", empty="")
    for i, x in enumerate(items):
        if _engine_of(x) is None:
            raise TypeError(f"{fn}: {what}[{i}] must be a Var, not {type_name(x)}")
    return items


def _one_engine(xs, fn):
    engines = {_engine_of(x) for x in xs}
    if len(engines) > 1:
        raise TypeError(f"{fn}: the Vars mix the compiled and the pure engine")
    return engines.pop()


# ------------------------------------------------------------- graph walks

def _inputs_first(outputs):
    """Every result under ``outputs`` with its inputs, ``(node, inputs)``, each
    after its inputs: backward()'s schedule (``regrad.pure.Schedule``), read
    backwards. Raises RuntimeError where an earlier backward released the graph."""
    results = [y for y in outputs if y.op is not None]
    if not results:
        return []
    steps = list(Schedule(results, _engine_of(results[0])._born_of))
    steps.reverse()
    return steps


def _reverse(outputs, seeds, inputs, create_graph, release, allow_unused=True):
    """The gradients of ``sum(seed * output)`` with respect to each of
    ``inputs`` that the outputs depend on: ``{input: gradient}`` (None for a
    gradient that is zero whatever the seeds are). The schedule is
    ``backward()``'s, so the sums are made in the same order; only the Vars on
    a path to an input are visited (skipping the others leaves the order of
    the rest as it is: they feed nothing that is visited). With
    ``create_graph`` the gradients are Vars built by each operator's
    ``backward_vars``, else numbers from its ``backward``. Inputs the outputs
    do not depend on are left out, or without ``allow_unused`` raise
    RuntimeError before anything is released (``release``: the Vars visited,
    once all is done, as backward() releases them; ``steps`` holds their
    inputs until then anyway)."""
    steps = _inputs_first(outputs)
    wanted = set(inputs)
    needed = set(wanted)                # the inputs, and the results some input is under
    for node, src in steps:             # inputs first: their fate is known
        if not needed.isdisjoint(src):
            needed.add(node)
    adjoint, found = {}, {}
    for y, seed in zip(outputs, seeds):
        if y in needed:
            adjoint[y] = seed if y not in adjoint else adjoint[y] + seed
    for node, src in reversed(steps):
        if node not in needed:
            continue
        g = adjoint.pop(node, None)
        if node in wanted:
            found[node] = g
        for x, gx in zip(src, _local_gradients(node, src, g, create_graph)):
            if x not in needed:
                continue
            if gx is None:              # reached, with a zero whatever the seeds
                adjoint.setdefault(x, None)
            else:
                adjoint[x] = gx if adjoint.get(x) is None else adjoint[x] + gx
    for x in wanted:
        if x in adjoint:                # a leaf reached (results were popped): its sum is complete
            found[x] = adjoint[x]
    for i, x in enumerate(inputs):
        if x not in found and not allow_unused:
            raise RuntimeError(f"grad: inputs[{i}] is not used in the graph of the outputs; "
                               "pass allow_unused=True to get None for it")
    if release:
        release_node = _engine_of(outputs[0])._release
        for node, _ in steps:
            if node in needed:
                release_node(node)
    return found


def _local_gradients(node, src, g, create_graph):
    """What ``node`` with gradient ``g`` passes to each of its inputs ``src``:
    Vars from its operator's ``backward_vars`` with ``create_graph``, else
    numbers from its ``backward``; all None when ``g`` is (a zero gradient)."""
    op = node.op
    if g is None:
        return (None,) * len(src)
    if not create_graph:
        return op.backward(node.val, g, *[x.val for x in src])
    if op.backward_vars is None:
        raise NotImplementedError(
            f"grad(create_graph=True): the {op.name} operator has no backward_vars, "
            "so its gradient cannot be built from Vars")
    return op.backward_vars(node, g, *src)


def _tangents(steps, seeds):
    """Forward mode: the tangent of every result of ``steps`` (``(node,
    inputs)``, inputs first) given the tangents of some leaves, ``{leaf:
    tangent}``. A result's tangent is the sum over its inputs of the local
    derivative times the input's tangent, which is what each operator's
    ``backward`` gives for one input when its ``g`` is that tangent. Vars
    independent of the seeds have none."""
    tangent = dict(seeds)
    for node, src in steps:
        t = None
        for i, x in enumerate(src):
            tx = tangent.get(x)
            if tx is not None:
                part = node.op.backward(node.val, tx, *[y.val for y in src])[i]
                t = part if t is None else t + part
        if t is not None:
            tangent[node] = t
    return tangent


# ------------------------------------------------------------------ grad

def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs``, as
    ``torch.autograd.grad``: a tuple, one per input, of
    ``sum_k grad_outputs[k] * d(outputs[k])/d(input)``. No ``.grad`` changes.

    ``outputs``, ``inputs``: a Var or a sequence of Vars (inputs may be leaves
    or results). ``grad_outputs``: a number (or Var) per output, 1.0 by
    default. Numbers come back, or with ``create_graph=True`` Vars whose graph
    computes them, to be differentiated again. ``retain_graph`` (default:
    ``create_graph``) keeps the outputs' graph; without it the graph is
    released as ``backward()`` releases it. An input the outputs do not
    depend on raises RuntimeError, or with ``allow_unused=True`` gives None.
    """
    outputs = _vars(outputs, "outputs", "grad")
    inputs = _vars(inputs, "inputs", "grad")
    engine = _one_engine(outputs + inputs, "grad")
    if grad_outputs is None:
        seeds = [1.0] * len(outputs)
    else:
        seeds = [grad_outputs] if _engine_of(grad_outputs) or ops.is_real(grad_outputs) \
            else _sequence(grad_outputs, "grad_outputs", "grad")
        if len(seeds) != len(outputs):
            raise ValueError(f"grad: {len(outputs)} outputs but {len(seeds)} grad_outputs")
        for i, s in enumerate(seeds):
            if _engine_of(s) is None and not ops.is_real(s):
                raise TypeError(f"grad: grad_outputs[{i}] must be a number or a Var, "
                                f"not {type_name(s)}")
        _one_engine(outputs + tuple(s for s in seeds if _engine_of(s)), "grad")
    if create_graph:
        seeds = [s if _engine_of(s) else engine.Var(s) for s in seeds]
    else:
        seeds = [float(s) for s in seeds]
    for what, xs in (("outputs", outputs), ("inputs", inputs)):
        for i, x in enumerate(xs):
            if not x.req_grad:
                raise RuntimeError(f"grad: {what}[{i}] does not require grad "
                                   "(no input of its graph has req_grad=True)")
    retain_graph = create_graph if retain_graph is None else retain_graph
    found = _reverse(outputs, seeds, inputs, create_graph, not retain_graph, allow_unused)
    result = []
    for x in inputs:
        if x not in found:
            result.append(None)
            continue
        g = found[x]
        if g is None:                   # reached, but every path multiplies by 0
            g = 0.0
        if create_graph and _engine_of(g) is None:
            g = engine.Var(g)
        result.append(g)
    return tuple(result)


def _sequence(xs, what, fn):
    try:
        return list(xs)
    except TypeError:
        raise TypeError(f"{fn}: {what} must be a sequence, not {type_name(xs)}") from None


# ------------------------------------------------------- function transforms

def _leaves(inputs, what, fn):
    """Fresh leaves requiring grad at the values of ``inputs`` (numbers, or
    Vars whose values are taken: their engine is used), and their engine."""
    values = items_of(inputs, f"{fn}: {what}", "a sequence", empty="")
    engines = {_engine_of(v) for v in values} - {None}
    if len(engines) > 1:
        raise TypeError(f"{fn}: the Vars mix the compiled and the pure engine")
    if engines:
        engine = engines.pop()
    else:
        from . import get_engine
        engine = get_engine()
    for i, v in enumerate(values):
        if _engine_of(v) is None and not ops.is_real(v):
            raise TypeError(f"{fn}: {what}[{i}] must be a real number or a Var, not {type_name(v)}")
    return engine, [engine.Var(float(v), req_grad=True) for v in values]


def _outputs(out, engine, fn):
    """f's result as a tuple of Vars (numbers become constants), and whether
    it was a single one."""
    single = _engine_of(out) is not None or ops.is_real(out)
    items = [out] if single else _sequence(out, "f's result", fn)
    for i, y in enumerate(items):
        e = _engine_of(y)
        if e is None and not ops.is_real(y):
            raise TypeError(f"{fn}: f must return a Var or a sequence of Vars, "
                            f"not {type_name(y)}")
        if e is not None and e is not engine:
            raise TypeError(f"{fn}: the Vars mix the compiled and the pure engine")
    return tuple(y if _engine_of(y) else engine.Var(y) for y in items), single


def jvp(f, primals, tangents):
    """Forward mode, as ``torch.func.jvp(f, primals, tangents)``: returns
    ``(f(*primals), J @ tangents)``, the outputs' values and their directional
    derivatives, as numbers (a tuple of each when ``f`` returns a sequence).

    ``f`` is called once on new leaves holding the ``primals`` (numbers, or
    Vars whose values are taken); one sweep over the graph it recorded, inputs
    first, carries the tangents along. n sweeps give a Jacobian's n columns,
    where reverse mode (``grad``) needs one sweep per output."""
    engine, xs = _leaves(primals, "primals", "jvp")
    ts = _sequence(tangents, "tangents", "jvp")
    if len(ts) != len(xs):
        raise ValueError(f"jvp: {len(xs)} primals but {len(ts)} tangents")
    seeds = {x: ops.to_float(t, f"tangents[{i}]") for i, (x, t) in enumerate(zip(xs, ts))}
    outs, single = _outputs(f(*xs), engine, "jvp")
    tangent = _tangents(_inputs_first(outs), seeds)
    values = tuple(y.val for y in outs)
    slopes = tuple(tangent.get(y, 0.0) for y in outs)
    return (values[0], slopes[0]) if single else (values, slopes)


def _gradient_graph(f, inputs, fn):
    """f on new leaves, the gradient of its (single) output as Vars, and the
    graph of that gradient, inputs first (``_inputs_first``)."""
    engine, xs = _leaves(inputs, "inputs", fn)
    outs, single = _outputs(f(*xs), engine, fn)
    if not single:
        raise ValueError(f"{fn}: f must return one Var (a scalar function), not {len(outs)}")
    y = outs[0]
    if y.req_grad:
        gs = grad(y, xs, create_graph=True, allow_unused=True)
        gs = tuple(engine.Var(0.0) if g is None else g for g in gs)
    else:
        gs = tuple(engine.Var(0.0) for _ in xs)
    return y, xs, gs, _inputs_first(gs)


def hvp(f, inputs, v):
    """The Hessian of the scalar function ``f`` at ``inputs`` times the vector
    ``v``, as ``torch.autograd.functional.hvp``: returns ``(f(*inputs), H @ v)``
    (a number and a tuple of numbers). Forward over reverse: the gradient is
    built as a graph (``grad(create_graph=True)``), then one forward sweep of
    the tangents ``v`` over it."""
    y, xs, gs, steps = _gradient_graph(f, inputs, "hvp")
    vs = _sequence(v, "v", "hvp")
    if len(vs) != len(xs):
        raise ValueError(f"hvp: {len(xs)} inputs but {len(vs)} values in v")
    seeds = {x: ops.to_float(t, f"v[{i}]") for i, (x, t) in enumerate(zip(xs, vs))}
    tangent = _tangents(steps, seeds)
    return y.val, tuple(tangent.get(g, 0.0) for g in gs)


def hessian(f, inputs):
    """The Hessian of the scalar function ``f`` at ``inputs``, as
    ``torch.autograd.functional.hessian``: ``H[i][j] = d2 f / d(inputs[i])
    d(inputs[j])``, a tuple of tuples of numbers. One gradient graph, then one
    tangent sweep over it per input (column j: the tangent 1 on input j)."""
    _, xs, gs, steps = _gradient_graph(f, inputs, "hessian")
    columns = []
    for x in xs:
        tangent = _tangents(steps, {x: 1.0})
        columns.append([tangent.get(g, 0.0) for g in gs])
    return tuple(tuple(column[i] for column in columns) for i in range(len(xs)))


# ------------------------------------------------------------ gradcheck

class GradcheckError(RuntimeError):
    """A gradient regrad computes differs from the finite differences
    (``torch.autograd.GradcheckError``)."""


_KINKS = ("Relu", "Abs")


def gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check the gradients of ``f`` at ``inputs`` against central differences,
    as ``torch.autograd.gradcheck``: for every output k and input i,
    ``|analytical - numerical| <= atol + rtol * |numerical|`` where numerical
    is ``(f(x + eps) - f(x - eps)) / (2 eps)`` along input i. Returns True;
    on a mismatch raises ``GradcheckError`` naming the worst pair and both
    numbers (or returns False when ``raise_exception=False``).

    ``f`` takes Vars and returns a Var or a sequence of Vars; ``inputs`` are
    numbers (or Vars, whose values are taken). Kinks: relu and abs have slope
    0 at exactly 0 (as in PyTorch), where central differences straddle the
    kink and give the mean of the two one-sided slopes; the message says so
    when an argument of relu or abs lies within eps of 0."""
    return _check(f, inputs, eps, atol, rtol, raise_exception, "gradcheck", "output")


def gradgradcheck(f, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True):
    """Check the second derivatives of ``f`` at ``inputs``, as
    ``torch.autograd.gradgradcheck``: ``gradcheck`` of the function that maps
    the inputs to ``grad(f(inputs), inputs, grad_outputs, create_graph=True)``
    (``grad_outputs``: a number per output of ``f``, 1.0 by default)."""
    def gradient(*xs):
        outs, _ = _outputs(f(*xs), _engine_of(xs[0]), "gradgradcheck")
        live = [k for k, y in enumerate(outs) if y.req_grad]
        if not live:
            return tuple(_engine_of(xs[0]).Var(0.0) for _ in xs)
        seeds = None if grad_outputs is None else [_sequence(grad_outputs, "grad_outputs",
                                                             "gradgradcheck")[k] for k in live]
        gs = grad([outs[k] for k in live], xs, seeds, create_graph=True, allow_unused=True)
        return tuple(_engine_of(xs[0]).Var(0.0) if g is None else g for g in gs)
    return _check(gradient, inputs, eps, atol, rtol, raise_exception, "gradgradcheck",
                  "gradient with respect to input")


def _suspect_function(steps, eps, atol, rtol):
    """Where a gradient is wrong, the likeliest cause is an operator defined in
    Python (``regrad.Function``): check each one's ``backward`` against central
    differences of its ``forward`` at the values it saw, and name the first
    that disagrees."""
    for node, src in steps:
        op = node.op
        if op.code >= 0:
            continue
        vals = [x.val for x in src]
        try:
            slopes = op.backward(node.val, 1.0, *vals)
            for i, slope in enumerate(slopes):
                up, down = list(vals), list(vals)
                up[i] += eps
                down[i] -= eps
                numerical = (op.forward(*up) - op.forward(*down)) / (2 * eps)
                if not abs(slope - numerical) <= atol + rtol * abs(numerical):
                    shown = ", ".join(repr(v) for v in vals)
                    return (f". The operator {op.name}, defined in Python, is the likely cause: "
                            f"at {op.name}({shown}) its backward gives {slope!r} as the "
                            f"derivative with respect to input {i}, but its forward changes at "
                            f"the rate {numerical!r} there; fix {op.name}.backward")
        except (ArithmeticError, ValueError):   # a kink or a domain edge within eps
            continue
    return ""


def _check(f, inputs, eps, atol, rtol, raise_exception, fn, output_name):
    engine, xs = _leaves(inputs, "inputs", fn)
    values = [x.val for x in xs]
    outs, _ = _outputs(f(*xs), engine, fn)
    analytical = []                     # [output][input]
    for y in outs:
        gs = grad(y, xs, retain_graph=True, allow_unused=True) if y.req_grad else [None] * len(xs)
        analytical.append([0.0 if g is None else g for g in gs])

    def values_at(i, step):
        shifted = list(values)
        shifted[i] += step
        return [y.val for y in _outputs(f(*(engine.Var(v, req_grad=True) for v in shifted)),
                                        engine, fn)[0]]

    worst = None
    for i in range(len(xs)):
        plus, minus = values_at(i, eps), values_at(i, -eps)
        for k in range(len(outs)):
            a, n = analytical[k][i], (plus[k] - minus[k]) / (2 * eps)
            tolerance = atol + rtol * abs(n)
            excess = abs(a - n) / tolerance if math.isfinite(a - n) else math.inf
            if not excess <= 1.0 and (worst is None or excess > worst[0]):
                worst = (excess, k, i, a, n, tolerance)
    if worst is None:
        return True
    _, k, i, a, n, tolerance = worst
    message = (f"{fn}: Jacobian mismatch for {output_name} {k} with respect to input {i}: "
               f"analytical {a!r}, numerical {n!r} (|difference| {abs(a - n):.3g} > "
               f"atol + rtol * |numerical| = {tolerance:.3g})")
    steps = _inputs_first(outs)
    if any(node.name in _KINKS and abs(src[0].val) <= eps for node, src in steps):
        message += ("; a relu or abs argument lies within eps of 0, its kink, where the "
                    "central difference averages the two one-sided slopes: check at a point "
                    "away from the kink")
    message += _suspect_function(steps, eps, atol, rtol)
    if raise_exception:
        raise GradcheckError(message)
    return False
