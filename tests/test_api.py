"""The Var API that code written for the original regrad relies on, on both engines."""
import math
import os
import random
import subprocess
import sys

import pytest

import regrad

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_seed_example(Var, seed_example):
    a, b, g = seed_example(Var)
    assert f"{g.val:.4f}" == "24.7041"
    g.backward()
    assert f"{a.grad:.4f}" == "222.1341"
    assert f"{b.grad:.4f}" == "978.7784"


def test_seed_readme_example_against_torch(Var, seed_example):
    torch = pytest.importorskip("torch")

    class T:  # the same program on torch tensors
        def __new__(cls, v, req_grad=False):
            return torch.tensor(float(v), dtype=torch.float64, requires_grad=req_grad)
    ta, tb, tg = seed_example(T)
    tg.backward()
    a, b, g = seed_example(Var)
    g.backward()
    assert math.isclose(g.val, tg.item(), rel_tol=1e-12)
    assert math.isclose(a.grad, ta.grad.item(), rel_tol=1e-12)
    assert math.isclose(b.grad, tb.grad.item(), rel_tol=1e-12)


def test_leaf_attributes(Var):
    x = Var(3, req_grad=True)
    assert x.val == 3.0 and type(x.val) is float
    assert x.grad is None and x.req_grad is True
    assert x.name == "Var" and x.op is None and x.src is None
    assert repr(x) == "Var(3.0, req_grad=True)" and str(x) == "3.0"
    c = Var(2)
    assert c.req_grad is False


def test_val_is_writable_and_checked(Var):
    x = Var(1.0)
    x.val = 2
    assert x.val == 2.0
    x.val -= 0.5
    assert x.val == 1.5
    with pytest.raises(TypeError):
        x.val = "abc"
    assert x.val == 1.5


def test_grad_reset_as_zero_grad_does(Var):
    x = Var(2.0, req_grad=True)
    (x * x).backward()
    assert x.grad == 4.0
    x.grad = 0
    assert x.grad == 0.0
    (x * 3).backward()
    assert x.grad == 3.0
    x.grad = None
    assert x.grad is None
    x.grad = 0.0
    (x * 3).backward()
    assert x.grad == 3.0


def test_results_keep_no_gradient(Var):
    x = Var(2.0, req_grad=True)
    h = x * 3
    y = h * h
    y.backward(retain_graph=True)
    assert h.grad is None and y.grad is None
    assert x.grad == 2 * 3 * 6.0
    with pytest.raises(RuntimeError):
        h.grad = 1.0
    h.grad = None   # harmless


def test_result_requires_grad_exactly_when_an_input_does(Var):
    x, c = Var(1.5, req_grad=True), Var(2.0)
    assert (x + c).req_grad and (c * x).req_grad and (x ** 2).req_grad
    k = c * c + 1.0
    assert not k.req_grad
    # a constant result keeps no references to its inputs
    assert k.op is None and k.src is None and k.name == "Var" and k.val == 5.0
    with pytest.raises(RuntimeError):
        k.backward()


def test_src_op_and_name_describe_the_graph(Var):
    a = Var(2.0, req_grad=True)
    y = a + a ** 2
    assert y.name == "Add"
    left, right = y.src
    assert left is a and right.name == "Pow"
    assert right.src == (a,) or right.src[0] is a
    assert right.op.args == {"power": 2.0}
    z = a * 3
    assert z.src[0] is a and z.src[1].val == 3.0 and z.src[1].name == "Var"
    assert (3 - a).src[0].val == 3.0 and (3 - a).src[1] is a


def test_backward_seed_dy(Var):
    x = Var(3.0, req_grad=True)
    (x * x).backward(dy=0.5)
    assert x.grad == 3.0
    x.grad = None
    (x * x).backward(2)
    assert x.grad == 12.0


def test_backward_on_a_leaf(Var):
    x = Var(3.0, req_grad=True)
    x.backward()
    assert x.grad == 1.0
    x.backward()
    assert x.grad == 2.0


def test_retain_graph_accumulates_like_torch(Var):
    x = Var(1.5, req_grad=True)
    y = (x * x).exp()
    y.backward(retain_graph=True)
    first = x.grad
    y.backward(retain_graph=True)
    assert x.grad == 2 * first
    y.backward()    # releases
    assert math.isclose(x.grad, 3 * first, rel_tol=1e-15)


def test_backward_twice_raises_and_keeps_gradients(Var):
    x = Var(1.5, req_grad=True)
    h = x * x
    y = h + 1.0
    y.backward()
    assert x.grad == 3.0
    with pytest.raises(RuntimeError, match="released"):
        y.backward()
    # a result built on a released node before the release cannot backward either
    assert y.src is None and h.src is None
    assert x.grad == 3.0
    with pytest.raises(RuntimeError, match="released"):
        (h * 2).backward()
    assert x.grad == 3.0   # nothing half-updated


def test_released_interior_seen_from_another_root(Var):
    x = Var(2.0, req_grad=True)
    h = x * x
    y1 = h + 1.0
    y2 = h * 3.0           # made before y1's backward releases h
    y1.backward()
    with pytest.raises(RuntimeError, match="released"):
        y2.backward()
    assert x.grad == 4.0


def test_shared_subgraph_with_retain_graph(Var):
    x = Var(2.0, req_grad=True)
    h = x * x
    y1 = h + 1.0
    y2 = h * 3.0
    y1.backward(retain_graph=True)
    y2.backward()
    assert x.grad == 4.0 + 12.0


def test_same_input_twice(Var):
    x = Var(3.0, req_grad=True)
    (x * x).backward()
    assert x.grad == 6.0
    y = Var(3.0, req_grad=True)
    (y + y + y).backward()
    assert y.grad == 3.0


def test_req_grad_can_change_on_leaves_only(Var):
    x = Var(2.0)
    x.req_grad = True
    (x * 2).backward()
    assert x.grad == 2.0
    with pytest.raises(RuntimeError):
        (x * 2).req_grad = False


def test_both_engines_give_identical_bits():
    """The same random MLP-like graph, both engines: equal values and gradients."""
    results = []
    for name in ("cython", "python"):
        Var = regrad.get_engine(name).Var
        rng = random.Random(7)
        w = [Var(rng.uniform(-1, 1), req_grad=True) for _ in range(40)]
        total = Var(0.0)
        for i in range(30):
            x = [rng.uniform(-2, 2) for _ in range(4)]
            h = sum((wi * xi for wi, xi in zip(w[:4], x)), w[4 + i % 8])
            h = h.tanh() * h.relu() + (h * h + 1.0).log() - h.sigmoid() / (h.abs() + 1.0)
            total = total + h ** 2 + (h * 0.1).exp().sqrt()
        total.backward()
        results.append((total.val, [p.grad for p in w]))
    assert results[0] == results[1]


def run_python(code, **env):
    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, cwd=ROOT, timeout=120)


def test_engine_selection_by_environment():
    out = run_python("import regrad; print(regrad.BACKEND, regrad.Var.__module__)",
                     REGRAD_PURE_PYTHON="1")
    assert out.stdout.split() == ["python", "regrad.pure"], out.stderr
    out = run_python("import regrad; print(regrad.BACKEND, regrad.Var.__module__)",
                     REGRAD_PURE_PYTHON="")
    assert out.stdout.split() == ["cython", "regrad._core"], out.stderr


def test_fallback_warns_once_when_the_extension_is_missing():
    code = ("import sys, warnings\n"
            "sys.modules['regrad._core'] = None  # as if the extension were not built\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    import regrad\n"
            "print(regrad.BACKEND, len(caught), caught[0].category.__name__)\n"
            "print(caught[0].message)")
    out = run_python(code, REGRAD_PURE_PYTHON="", REGRAD_REQUIRE_COMPILED="")
    first, message = out.stdout.splitlines()[:2]
    assert first == "python 1 RuntimeWarning", out.stderr
    assert "compiled engine could not be imported" in message


def test_a_required_compiled_engine_that_is_missing_fails_the_import():
    code = ("import sys\n"
            "sys.modules['regrad._core'] = None  # as if the extension were not built\n"
            "try:\n"
            "    import regrad\n"
            "except ImportError as exc:\n"
            "    print('ImportError', exc)\n")
    out = run_python(code, REGRAD_PURE_PYTHON="", REGRAD_REQUIRE_COMPILED="1")
    assert out.stdout.startswith("ImportError regrad: the compiled engine could not"), out.stderr
    assert "REGRAD_REQUIRE_COMPILED" in out.stdout


def test_unknown_engine_name():
    with pytest.raises(ValueError, match="unknown engine"):
        regrad.get_engine("fortran")
