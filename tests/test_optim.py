"""regrad.optim against torch.optim (float64), on three paths that must give
the same bits: the compiled step (compiled Vars), the pure loop on compiled
Vars, the pure loop on pure Vars.

SGD must equal PyTorch to the bit where PyTorch runs its portable kernels
(``ATEN_CPU_CAPABILITY=default``, computed in a subprocess): every operation
rounded on its own, as Python's floats. Its AVX2/AVX-512 kernels fuse
multiply-adds, and its float64 ``sqrt`` is not always correctly rounded (one
argument in about a hundred is an ulp off), so against the in-process torch
the trajectories agree to a few ulps (``_close``).
"""
import json
import math
import os
import random
import subprocess
import sys

import pytest

import regrad
from regrad import optim, pure
from regrad.nn import MLP

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch.optim is the reference here")

STEPS = 25
N_PARAMS = 6


# ------------------------------------------------------------ the scenario

def _scenario(seed=0):
    """Initial values and, per step, a gradient ``a + b*p`` for each
    parameter (None: no gradient that step). Parameter 1 never has one;
    parameters 0 and 3 miss some steps, so their step counts differ."""
    rng = random.Random(seed)
    init = [rng.uniform(-1, 1) for _ in range(N_PARAMS)]
    missing = {(0, 2), (3, 4)}     # (parameter, step % 5)
    plan = [[None if i == 1 or (i, k % 5) in missing else (rng.uniform(-1, 1), rng.uniform(0, 0.5))
             for i in range(N_PARAMS)] for k in range(STEPS)]
    return init, plan


def _lr_at(k, lr):
    return lr * (1.0 - 0.5 * k / STEPS)    # a schedule: the optimizer's lr changes every step


def torch_trajectory(kind, kwargs, seed=0, exact_sqrt=False):
    """The parameters' values after each step of ``torch.optim.<kind>``, one
    0-d float64 tensor per parameter, single-tensor implementation.
    ``exact_sqrt``: with ``Tensor.sqrt`` correctly rounded (``math.sqrt``)."""
    import torch
    init, plan = _scenario(seed)
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in init]
    opt = getattr(torch.optim, kind)(params, foreach=False, **kwargs)
    sqrt = torch.Tensor.sqrt
    if exact_sqrt:
        torch.Tensor.sqrt = lambda t: torch.tensor(math.sqrt(t.item()), dtype=t.dtype)
    out = []
    try:
        for k, grads in enumerate(plan):
            for p, ab in zip(params, grads):
                p.grad = None if ab is None else torch.tensor(ab[0] + ab[1] * p.item(),
                                                              dtype=torch.float64)
            opt.param_groups[0]["lr"] = _lr_at(k, kwargs["lr"])
            opt.step()
            out.append([p.item() for p in params])
    finally:
        torch.Tensor.sqrt = sqrt
    return out


def regrad_trajectory(Var, kind, kwargs, seed=0, pure_step=False, monkeypatch=None):
    init, plan = _scenario(seed)
    params = [Var(x, req_grad=True) for x in init]
    if pure_step:
        monkeypatch.setattr(optim, "_compiled_optim", lambda: None)
    opt = getattr(optim, kind)(params, **kwargs)
    expected = "_PureKernel" if pure_step or Var is pure.Var else kind + "Kernel"
    assert type(opt._kernels[0]).__name__ == expected
    out = []
    for k, grads in enumerate(plan):
        for p, ab in zip(params, grads):
            p.grad = None if ab is None else ab[0] + ab[1] * p.val
        opt.lr = _lr_at(k, kwargs["lr"])
        opt.step()
        out.append([p.val for p in params])
    return out


def _three_paths(kind, kwargs, monkeypatch):
    """The trajectories of the three paths, checked equal to the bit."""
    compiled = regrad.get_engine("cython").Var
    fast = regrad_trajectory(compiled, kind, kwargs)
    assert regrad_trajectory(pure.Var, kind, kwargs) == fast
    assert regrad_trajectory(compiled, kind, kwargs, pure_step=True,
                             monkeypatch=monkeypatch) == fast
    return fast


def _close(ours, theirs, ulps):
    for k, (a, b) in enumerate(zip(ours, theirs)):
        for x, y in zip(a, b):
            assert abs(x - y) <= ulps * math.ulp(max(abs(y), 1.0)), (k, x, y)


SGD_CASES = [dict(lr=0.1, momentum=m, dampening=d, weight_decay=wd, nesterov=n, maximize=mx)
             for m in (0, 0.9) for d in (0, 0.3) for wd in (0, 0.01) for n in (False, True)
             for mx in (False, True) if not n or (m and not d)]
ADAM_CASES = [dict(lr=0.01), dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, amsgrad=True),
              dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True),
              dict(lr=0.05, betas=(0.3, 0.9), eps=1e-3),       # lerp's other formula
              dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)]


@pytest.fixture(scope="module")
def portable_torch():
    """torch.optim's trajectories with PyTorch's portable kernels (no FMA),
    computed by this file run as a script in a subprocess; Adam also with a
    correctly rounded ``Tensor.sqrt``."""
    cases = ([["SGD", c, False] for c in SGD_CASES] + [["Adam", c, False] for c in ADAM_CASES]
             + [["Adam", c, True] for c in ADAM_CASES])
    root = os.path.dirname(os.path.dirname(os.path.abspath(regrad.__file__)))
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default",
               PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, __file__], input=json.dumps(cases), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    return {json.dumps(case): [[float.fromhex(x) for x in row] for row in traj]
            for case, traj in zip(cases, results)}


def _case_id(kwargs):
    return ",".join(f"{k}={v}" for k, v in kwargs.items() if v and k != "lr") or "plain"


@pytest.mark.slow
@needs_torch
@pytest.mark.parametrize("kwargs", SGD_CASES, ids=_case_id)
def test_sgd_matches_torch_to_the_bit(kwargs, portable_torch, monkeypatch):
    ours = _three_paths("SGD", kwargs, monkeypatch)
    assert ours == portable_torch[json.dumps(["SGD", kwargs, False])]


@pytest.mark.slow
@needs_torch
@pytest.mark.parametrize("kwargs", ADAM_CASES, ids=_case_id)
def test_adam_matches_torch(kwargs, portable_torch, monkeypatch):
    """To the bit once torch's sqrt is correctly rounded; within a few ulps
    with its own (which puts some results an ulp off)."""
    ours = _three_paths("Adam", kwargs, monkeypatch)
    assert ours == portable_torch[json.dumps(["Adam", kwargs, True])]
    _close(ours, portable_torch[json.dumps(["Adam", kwargs, False])], ulps=8)


@needs_torch
def test_torch_sqrt_is_not_always_correctly_rounded():
    """Why Adam needs the patched sqrt above to be bitwise (if this ever
    fails, torch's sqrt became exact: tighten test_adam_matches_torch)."""
    import torch
    rng = random.Random(3)
    xs = [rng.uniform(0, 1) * 10 ** rng.uniform(-6, 2) for _ in range(2000)]
    roots = torch.tensor(xs, dtype=torch.float64).sqrt().tolist()
    assert any(r != math.sqrt(x) for r, x in zip(roots, xs))


# ------------------------------------------------------------------- errors

def _torch_raises(ctor, kwargs):
    import torch
    try:
        getattr(torch.optim, ctor)([torch.zeros((), dtype=torch.float64, requires_grad=True)],
                                   **kwargs)
    except Exception as exc:    # noqa: BLE001 - its type is the reference
        return type(exc)
    return None


BAD_HYPERPARAMETERS = [
    ("SGD", dict(lr=-0.1), ValueError, "Invalid learning rate"),
    ("SGD", dict(momentum=-0.5), ValueError, "Invalid momentum"),
    ("SGD", dict(weight_decay=-1e-4), ValueError, "Invalid weight_decay"),
    ("SGD", dict(nesterov=True), ValueError, "Nesterov momentum requires"),
    ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1), ValueError, "Nesterov"),
    ("SGD", dict(lr="0.1"), TypeError, "lr must be a real number"),
    ("Adam", dict(lr=-1e-3), ValueError, "Invalid learning rate"),
    ("Adam", dict(lr=math.nan), ValueError, "Invalid learning rate"),
    ("Adam", dict(eps=-1e-8), ValueError, "Invalid epsilon"),
    ("Adam", dict(betas=(1.0, 0.999)), ValueError, "index 0"),
    ("Adam", dict(betas=(0.9, -0.1)), ValueError, "index 1"),
    ("Adam", dict(weight_decay=-0.1), ValueError, "Invalid weight_decay"),
    ("Adam", dict(lr=None), TypeError, "lr must be a real number"),
]


@pytest.mark.parametrize("ctor, kwargs, exc, message", BAD_HYPERPARAMETERS)
def test_bad_hyperparameters(Var, ctor, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        getattr(optim, ctor)([Var(1.0, req_grad=True)], **kwargs)
    if HAVE_TORCH:
        assert _torch_raises(ctor, kwargs) is exc   # PyTorch raises the same type


def test_bad_parameters(Var):
    p = Var(1.0, req_grad=True)
    other = (pure.Var if Var is not pure.Var
             else regrad.get_engine("cython").Var)(1.0, req_grad=True)
    cases = [
        (p, TypeError, "iterable of Vars"),                   # a Var, not a list of them
        (1.0, TypeError, "iterable of Vars"),
        ([], ValueError, "empty parameter list"),
        ([p, 1.0], TypeError, "only optimize Vars, not float"),
        ([p * 2], ValueError, "can't optimize a result"),
        ([Var(1.0)], ValueError, "does not require grad"),
        ([p, p], ValueError, "appears twice"),
        ([p, other], TypeError, "one engine"),
        ([{"params": [p]}, {"params": [p]}], ValueError, "appears twice"),
        ([{"params": [p], "momentom": 0.9}], TypeError, "unknown hyperparameter"),
        ([{"lr": 0.1}], ValueError, "'params'"),
    ]
    for params, exc, message in cases:
        with pytest.raises(exc, match=message):
            optim.SGD(params, lr=0.1)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.lr = -1.0
    with pytest.raises(TypeError, match="lr must be a real number"):
        opt.lr = "fast"
    opt.param_groups[0]["lr"] = "fast"        # unchecked until step(), which raises cleanly
    with pytest.raises(TypeError, match="lr must be a real number"):
        opt.step()


@needs_torch
def test_signatures_follow_torch():
    import inspect
    import torch
    for name in ("SGD", "Adam"):
        ours = inspect.signature(getattr(optim, name)).parameters
        theirs = inspect.signature(getattr(torch.optim, name)).parameters
        left_out = {"foreach", "fused", "capturable", "differentiable"}
        assert [(k, v.default, v.kind) for k, v in ours.items()] == [
            (k, v.default, v.kind) for k, v in theirs.items() if k not in left_out]


# ------------------------------------------------------- grads, zero_grad, groups

def test_none_grad_is_skipped(Var):
    a, b = Var(1.0, req_grad=True), Var(2.0, req_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = 0.5
    opt.step()
    assert b.val == 2.0 and b.grad is None
    state = opt.state_dict()["state"]
    assert list(state) == [0] and state[0]["step"] == 1.0   # b has no state yet
    sgd = optim.SGD([a, b], lr=0.1, momentum=0.9)
    sgd.step()
    assert b.val == 2.0 and list(sgd.state_dict()["state"]) == [0]


def test_zero_grad(Var):
    a, b = Var(1.0, req_grad=True), Var(2.0, req_grad=True)
    opt = optim.SGD([a, b], lr=0.1)
    a.grad = 3.0
    opt.zero_grad(set_to_none=False)          # as PyTorch: zeroes what exists
    assert a.grad == 0.0 and b.grad is None
    a.grad = 3.0
    opt.zero_grad()                           # default: set_to_none=True
    assert a.grad is None and b.grad is None
    y = a * b
    y.backward()                              # fresh gradients, not added to old ones
    assert a.grad == 2.0 and b.grad == 1.0


def test_groups_and_lr(Var):
    a, b = Var(1.0, req_grad=True), Var(1.0, req_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.9
    with pytest.raises(AttributeError, match="different learning rates"):
        opt.lr
    a.grad = b.grad = 1.0
    opt.step()
    assert (a.val, b.val) == (1.0 - 0.1 * 1.0, 1.0 - 0.5 * 1.0)
    opt.lr = 0.25
    assert opt.lr == 0.25 and [g["lr"] for g in opt.param_groups] == [0.25, 0.25]
    assert "Parameter Group 1 (1 parameters)" in repr(opt)


def test_closure(Var):
    w = Var(3.0, req_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = w * w
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.val == 9.0 and w.val == 3.0 - 0.25 * 6.0


# --------------------------------------------------------------- state dict

@pytest.mark.parametrize("kind, kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                          ("Adam", dict(lr=0.01, amsgrad=True))])
def test_state_dict_round_trip(kind, kwargs):
    """Ten steps, the state saved and loaded into a fresh optimizer of the
    other engine, ten more: the same bits as twenty steps in one go."""
    whole = regrad_trajectory(regrad.get_engine("cython").Var, kind, kwargs)
    init, plan = _scenario()
    first = [regrad.get_engine("cython").Var(x, req_grad=True) for x in init]
    opt = getattr(optim, kind)(first, **kwargs)
    for k in range(10):
        for p, ab in zip(first, plan[k]):
            p.grad = None if ab is None else ab[0] + ab[1] * p.val
        opt.lr = _lr_at(k, kwargs["lr"])
        opt.step()
    saved = json.loads(json.dumps(opt.state_dict()))      # plain data, keys become strings
    saved["state"] = {int(i): s for i, s in saved["state"].items()}
    second = [pure.Var(p.val, req_grad=True) for p in first]
    other = getattr(optim, kind)(second, lr=123.0)
    other.load_state_dict(saved)
    assert other.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert other.state_dict()["state"] == opt.state_dict()["state"]
    for k in range(10, STEPS):
        for p, ab in zip(second, plan[k]):
            p.grad = None if ab is None else ab[0] + ab[1] * p.val
        other.lr = _lr_at(k, kwargs["lr"])
        other.step()
    assert [p.val for p in second] == whole[-1]


def test_bad_state_dict(Var):
    p, q = Var(1.0, req_grad=True), Var(1.0, req_grad=True)
    opt = optim.Adam([p, q])
    good = opt.state_dict()
    for bad in [None, {}, {"state": {}, "param_groups": []}, {"state": [], "param_groups": 3},
                {"state": {}, "param_groups": [5]},
                {"state": {}, "param_groups": [dict(good["param_groups"][0], params=[0])]},
                {"state": {5: {}}, "param_groups": good["param_groups"]},
                {"state": {0: {"step": 1.0}}, "param_groups": good["param_groups"]},
                {"state": {0: {"step": 0.5, "exp_avg": 0.0, "exp_avg_sq": 0.0}},
                 "param_groups": good["param_groups"]},
                {"state": {0: {"step": 1.0, "exp_avg": 0.0, "exp_avg_sq": -1.0}},
                 "param_groups": good["param_groups"]},
                {"state": {0: {"momentum_buffer": 1.0}}, "param_groups": good["param_groups"]},
                {"state": {}, "param_groups": [dict(good["param_groups"][0], lr=-1.0)]}]:
        with pytest.raises(ValueError):
            opt.load_state_dict(bad)
    with pytest.raises(TypeError, match="exp_avg must be a real number"):
        opt.load_state_dict({"state": {0: {"step": 1.0, "exp_avg": "x", "exp_avg_sq": 0.0}},
                             "param_groups": good["param_groups"]})
    assert opt.state_dict() == good             # nothing loaded by a failed call


@pytest.mark.parametrize("step", [math.inf, -math.inf, math.nan, 0.0, -1.0, 0.5, -0.0, 1.5])
def test_every_bad_step_count_is_a_value_error(Var, step):
    p = Var(1.0, req_grad=True)
    opt = optim.Adam([p])
    groups = opt.state_dict()["param_groups"]
    bad = {"state": {0: {"step": step, "exp_avg": 0.0, "exp_avg_sq": 0.0}},
           "param_groups": groups}
    with pytest.raises(ValueError, match="step is a count >= 1"):
        opt.load_state_dict(bad)


@needs_torch
@pytest.mark.parametrize("betas", [(0.9, 1.0), (1.0, 0.999), (0.0, 0.0), (0.9, 1.5)])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_betas_set_through_param_groups_step_as_torch(betas, amsgrad):
    """The constructor refuses betas outside [0, 1); param_groups are not
    checked (as in PyTorch), so each step computes what PyTorch computes:
    NaN for beta2 = 1, ZeroDivisionError for beta1 = 1, on every path."""
    import torch
    t = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    topt = torch.optim.Adam([t], lr=0.1, amsgrad=amsgrad)
    topt.param_groups[0]["betas"] = betas
    want = []
    try:
        for k in range(3):
            t.grad = torch.tensor(0.5 + k, dtype=torch.float64)
            topt.step()
            want.append(t.item())
    except ZeroDivisionError:
        want.append(ZeroDivisionError)
    except RuntimeError:              # a complex bias correction
        want.append(ValueError)
    for Var, pure_step in [(pure.Var, False), (regrad.get_engine("cython").Var, False),
                           (regrad.get_engine("cython").Var, True)]:
        p = Var(1.0, req_grad=True)
        opt = optim.Adam([p], lr=0.1, amsgrad=amsgrad)
        if pure_step:
            opt._kernels = [optim.Adam._PureKernel([p])]
        opt.param_groups[0]["betas"] = betas
        got = []
        try:
            for k in range(3):
                p.grad = 0.5 + k
                opt.step()
                got.append(p.val)
        except (ZeroDivisionError, ValueError) as e:
            got.append(type(e))
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)) or (
                isinstance(a, float) and abs(a - b) <= 4e-16 * abs(b)), (Var, got, want)


# ------------------------------------------------------------------ models

def test_mlp_steps_equal_hand_written_sgd(engine):
    """``SGD(lr)`` on a regrad.nn model is ``p.val -= lr * p.grad``, bit for bit,
    through backward and through a replay tape."""
    def losses(update, replay):
        random.seed(7)
        model = MLP(2, [4, 4, 1], engine=engine)
        params = model.parameters()
        xs = [(0.5, -1.0), (-0.3, 0.8), (1.2, 0.1)]
        ys = [1.0, -1.0, 1.0]

        def build():
            scores = [model(x) for x in xs]
            return sum((1 + -y * s).relu() for y, s in zip(ys, scores)) * (1.0 / 3)
        tape = regrad.compile(build()) if replay else None
        out = []
        for k in range(4):
            lr = 1.0 - 0.9 * k / 4
            for p in params:
                p.grad = 0.0
            if replay:
                out.append(tape.forward())
                tape.backward()
            else:
                total = build()
                out.append(total.val)
                total.backward()
            update(params, lr)
        return out, [p.val for p in params]

    def by_hand(params, lr):
        for p in params:
            p.val -= lr * p.grad

    opts = {}

    def by_sgd(params, lr):
        opt = opts.setdefault("sgd", optim.SGD(params))
        opt.lr = lr
        opt.step()

    for replay in (False, True):
        opts.clear()
        assert losses(by_sgd, replay) == losses(by_hand, replay)


# ------------------------------------------------------- the compiled kernels

def test_compiled_kernels_refuse_what_they_cannot_hold():
    _optim = pytest.importorskip("regrad._optim")
    Var = regrad.get_engine("cython").Var
    x = Var(1.0, req_grad=True)
    for bad in ([pure.Var(1.0, req_grad=True)], [x * 2], [1.0], 5):
        with pytest.raises(TypeError):
            _optim.SGDKernel(bad)
    kernel = _optim.AdamKernel([x])
    with pytest.raises(IndexError):
        kernel.get_state(1)
    with pytest.raises(IndexError):
        kernel.set_state(-1, None)
    with pytest.raises(TypeError):
        kernel.step("lr", 0.9, 0.999, 1e-8, 0.0, False, False, False, optim._bias_corrections)


if __name__ == "__main__":
    # the portable_torch fixture's subprocess: cases in on stdin, trajectories out
    print(json.dumps([[[x.hex() for x in row] for row in torch_trajectory(kind, kwargs,
                                                                          exact_sqrt=exact)]
                      for kind, kwargs, exact in json.loads(sys.stdin.read())]))
