"""``BatchTape.step``: mean loss, L2 penalty, gradients and the optimizer's
update in one call. Reference: the dynamic engine building the whole step's
graph (``sum(losses) * (1/N) + l2 * sum(p*p)``, ``zero_grad``, ``backward``,
``step``), to the bit, on both engines."""
import math
import tracemalloc
from array import array

import pytest

import regrad
from regrad.optim import SGD, Adam

from test_lanes import ENGINES, mlp_sample, rows

OPTIMIZERS = {"sgd": lambda ps: SGD(ps, lr=0.1, momentum=0.9),
              "adam": lambda ps: Adam(ps, lr=0.01)}


def _samples(E, shared_twice):
    """The MLP's hinge loss; with ``shared_twice``, a weight also used again in
    every lane (a parameter with several uses takes the tape's other path)."""
    sample, params, inputs = mlp_sample(E, hidden=(5, 4))
    if shared_twice:
        w = params[0]
        plain = sample
        sample = lambda x0, x1, t: plain(x0, x1, t) + (w * x0).tanh() * w   # noqa: E731
    return sample, params, inputs


def _dynamic_steps(E, sample, params, opt, data, l2, steps):
    out = []
    for _ in range(steps):
        losses = [sample(*[E.Var(v) for v in row]) for row in data]
        total = sum(losses) * (1.0 / len(losses))
        if l2:
            total = total + l2 * sum(p * p for p in params)
        opt.zero_grad()
        total.backward()
        opt.step()
        out.append(total.val)
    return out, [p.val for p in params], [p.grad for p in params]


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("shared_twice", [False, True])
@pytest.mark.parametrize("l2", [0.0, 1e-3])
def test_step_is_the_dynamic_step_to_the_bit(name, opt, shared_twice, l2):
    E = regrad.get_engine(name)
    # compiled: blocks of 8 over 200 rows, 25 blocks, enough for 3 threads; the
    # pure tape keeps threads and block but runs one loop whatever they are
    data = rows(200 if name == "cython" else 40)
    sample, params, inputs = _samples(E, shared_twice)
    want = _dynamic_steps(E, sample, params, OPTIMIZERS[opt](params), data, l2, 3)
    for threads, block in ((1, None), (3, 8)) if name == "cython" else ((1, None),):
        sample, params, inputs = _samples(E, shared_twice)
        batch = regrad.compile(sample(*inputs), inputs=list(inputs), threads=threads,
                               block=block)
        optimizer = OPTIMIZERS[opt](params)
        got = [batch.step(data, optimizer, l2) for _ in range(3)]
        assert (got, [p.val for p in params], [p.grad for p in params]) == want


@pytest.mark.parametrize("name", ENGINES)
def test_outputs_after_a_step_and_no_backward(name):
    E = regrad.get_engine(name)
    sample, params, (x0, x1, t) = mlp_sample(E)
    score = params[-1] * x0 + x1          # any result of the graph
    batch = regrad.compile(sample(x0, x1, t) + 0.0 * score, inputs=[x0, x1, t],
                           outputs=[score])
    data = rows(21)
    losses = batch.forward(data)
    scores = batch.output_values[0]
    value = batch.step(data, SGD(params, lr=0.0))
    assert batch.output_values[0] == scores
    assert value == sum(losses) * (1.0 / 21)
    with pytest.raises(RuntimeError, match="no successful forward"):
        batch.backward()
    assert len(batch) == 0
    batch.forward(data)
    assert batch.output_values[0] == scores


@pytest.mark.parametrize("name", ENGINES)
def test_a_parameter_outside_the_optimizer_accumulates_as_backward_does(name):
    """The optimizer's parameters' gradients are reset first; another
    parameter's gradient is added to, as ``backward()`` adds."""
    E = regrad.get_engine(name)
    sample, params, inputs = mlp_sample(E)
    data = rows(19)
    batch = regrad.compile(sample(*inputs), inputs=list(inputs), block=8)
    batch.forward(data)
    for p in params:
        p.grad = 0.5
    batch.backward(1.0 / 19)
    kept = params[0].grad
    for p in params:
        p.grad = None
    batch.backward(1.0 / 19)
    fresh = [p.grad for p in params[1:]]
    for p in params:
        p.grad = 0.5
    before = [p.val for p in params]
    batch.step(data, SGD(params[1:], lr=0.0))
    assert params[0].grad == kept and [p.grad for p in params[1:]] == fresh
    assert [p.val for p in params] == before


def _errors(E, fn):
    try:
        fn()
    except Exception as e:
        return type(e), str(e)
    return None


def test_bad_input_and_domain_errors_are_the_same_on_both_engines():
    results = []
    for name in ENGINES:
        E = regrad.get_engine(name)
        other = regrad.get_engine("python" if name == "cython" else "cython")
        x, w = E.Var(1.0), E.Var(2.0, req_grad=True)
        batch = regrad.compile((w / x).log(), inputs=[x])
        opt = SGD([w], lr=0.5)
        w.grad = 7.0
        cases = [lambda: batch.step([], opt),
                 lambda: batch.step([1.0], opt, l2="0.1"),
                 lambda: batch.step([1.0], SGD([other.Var(1.0, req_grad=True)], lr=0.1)),
                 lambda: batch.step([1.0, 2.0, 0.0, -1.0, 3.0], opt),      # Div by zero
                 lambda: batch.step([1.0, -2.0], opt, l2=0.1)]            # Log domain
        errors = [_errors(E, c) for c in cases]
        assert all(e is not None for e in errors), errors
        assert (w.val, w.grad) == (2.0, 7.0)          # untouched by a failed step
        results.append(errors)
    wrong_engine = [r.pop(2) for r in results]        # names each engine's Var
    assert results[0] == results[1]
    assert wrong_engine[0][0] is wrong_engine[1][0] is TypeError
    assert "sample 2" in results[0][2][1] and "sample 1" in results[0][3][1]


@pytest.mark.parametrize("n", [2_000, 40_000])
def test_the_compiled_step_holds_a_block_not_the_batch(n):
    """Its working memory does not grow with N: what it allocates per sample is
    the returned values (the losses, each output's), 8 bytes each."""
    E = regrad.get_engine("cython")
    sample, params, inputs = mlp_sample(E, hidden=(16, 16))
    batch = regrad.compile(sample(*inputs), inputs=list(inputs))
    data = array("d", [v for row in rows(n) for v in row])
    opt = SGD(params, lr=0.01)
    batch.step(data, opt)
    tracemalloc.start()
    try:
        batch.step(data, opt, 1e-4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * n + 200_000          # a forward() keeps ~1,600 bytes a sample here


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_first_failing_sample_is_named_whatever_the_threads(threads):
    E = regrad.get_engine("cython")
    x, w = E.Var(1.0), E.Var(2.0, req_grad=True)
    batch = regrad.compile((w / x).log(), inputs=[x], threads=threads, block=8)
    data = [1.0] * 200
    data[57] = data[190] = -1.0
    data[120] = 0.0
    opt = SGD([w], lr=0.5)
    with pytest.raises(ValueError, match="^sample 57: Log"):
        batch.step(data, opt)
    assert w.val == 2.0 and w.grad is None
    data[57] = 1.0
    with pytest.raises(ZeroDivisionError, match="^sample 120: Div"):
        batch.step(data, opt)
    data[120] = data[190] = 1.0
    total = 0.0
    for _ in data:
        total += math.log(2.0)
    assert batch.step(data, opt) == total * (1.0 / 200) and w.val < 2.0
