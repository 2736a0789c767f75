"""Huge graphs on both engines: a chain of 10^6 operations, a sum of 10^6
terms, and a leaf feeding 10^6 operations are built, differentiated and freed
without a RecursionError or a crash, with correct gradients.

Each graph is handled in a fresh subprocess (this file run as a script), so
that a crash (a C stack overflow while freeing a long chain, say) fails one
test instead of killing the test run. References are independent of regrad:
forward-mode derivatives computed on plain floats for the chain, exact
products and ``math.fsum`` for the sums. Freeing is checked by counting the
interpreter's allocated blocks before building and after dropping the root.
"""
import json
import math
import os
import random
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 10 ** 6
# blocks that may stay allocated after a graph of millions is dropped: the
# freelists (of nodes, tuples, floats), bounded and far below a graph's size
KEPT_BLOCKS = 100_000


def allocated_blocks():
    return sys.getallocatedblocks()


# ------------------------------------------------------------- the graphs

def chain(Var, n_ops):
    """x -> 10 operators -> 10 operators ... (n_ops in all): every result
    feeds the next one only. Returns (x, root, reference value, reference
    derivative), the references computed in forward mode on floats."""
    rng = random.Random(0)
    x = Var(1.0, req_grad=True)
    y, v, d = x, 1.0, 1.0
    for _ in range(n_ops // 10):
        a = rng.uniform(0.999, 1.001)
        y = y * a                      # Mul
        v, d = v * a, d * a
        y = y.exp()                    # Exp
        e = math.exp(v)
        v, d = e, d * e
        y = y.log()                    # Log
        v, d = math.log(v), d / e
        y = y + 1.0                    # Add
        v = v + 1.0
        y = y.sqrt()                   # Sqrt
        s = math.sqrt(v)
        v, d = s, d * (0.5 / s)
        y = y ** 2                     # Pow
        v, d = s ** 2, d * (2 * s)
        y = y - 1.0                    # Sub
        v = v - 1.0
        y = -y                         # Neg
        v, d = -v, -d
        y = y.abs()                    # Abs
        v, d = abs(v), (d if v > 0 else -d)
        y = y.relu()                   # Relu
        v, d = (v, d) if v > 0 else (0.0, 0.0)
    return x, y, v, d


def weighted_sum(Var, n_terms):
    """sum(x_i * c_i) over n_terms leaves x_i: a chain of n_terms additions
    (Python's sum), each fed by a product of a leaf and a number."""
    rng = random.Random(1)
    xs = [Var(rng.uniform(-1, 1), req_grad=True) for _ in range(n_terms)]
    cs = [rng.uniform(-2, 2) for _ in range(n_terms)]
    root = sum(x * c for x, c in zip(xs, cs))
    value = math.fsum(x.val * c for x, c in zip(xs, cs))
    return xs, cs, root, value


def fan_out(Var, n_ops):
    """One leaf x feeding n_ops multiplications x * c_i, added up pairwise
    (a balanced tree, 20 levels deep)."""
    rng = random.Random(2)
    x = Var(0.7, req_grad=True)
    cs = [rng.uniform(-1, 1) for _ in range(n_ops)]
    level = [x * c for c in cs]
    while len(level) > 1:
        paired = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return x, cs, level[0]


# ------------------------------------------------------------ the child side

def close(a, b, rel=1e-9):
    return a == b or abs(a - b) <= rel * abs(b)


def child(scenario, engine_name):
    import regrad
    Var = regrad.get_engine(engine_name).Var
    report = {"recursion_limit": sys.getrecursionlimit()}
    t0 = time.perf_counter()
    blocks0 = allocated_blocks()
    if scenario == "chain":
        x, root, value, deriv = chain(Var, N)
        report["built"] = time.perf_counter() - t0
        report["nodes"] = N
        if engine_name == "cython":
            try:
                from regrad.draw import build_svg
            except ImportError:
                report["draw"] = "regrad.draw not available"
            else:
                try:
                    build_svg(root)
                    report["draw"] = "drawn"
                except ValueError as exc:
                    report["draw"] = f"refused: {exc}"[:120]
        report["value_ok"] = close(root.val, value, 1e-12)
        root.backward(retain_graph=True)        # the whole chain stays
        report["grad_ok"] = close(x.grad, deriv)
        report["grad"], report["expected"] = x.grad, deriv
        root.backward(2.0, retain_graph=True)
        report["grad_twice_ok"] = close(x.grad, 3 * deriv)
        del root                                # an intact 10^6-deep chain dies
    elif scenario == "sum":
        xs, cs, root, value = weighted_sum(Var, N)
        report["built"] = time.perf_counter() - t0
        report["nodes"] = 3 * N
        report["value_ok"] = close(root.val, value)
        root.backward(0.5)                      # released as it goes
        report["grad_ok"] = all(x.grad == 0.5 * c for x, c in zip(xs, cs))
        try:
            root.backward()
            report["second_backward"] = "no error"
        except RuntimeError:
            report["second_backward"] = "RuntimeError"
        report["grad_twice_ok"] = all(x.grad == 0.5 * c for x, c in zip(xs, cs))
        del root, xs, cs
    elif scenario == "fan_out":
        x, cs, root = fan_out(Var, N)
        report["built"] = time.perf_counter() - t0
        report["nodes"] = 2 * N
        report["value_ok"] = close(root.val, math.fsum(0.7 * c for c in cs))
        root.backward()
        report["grad_ok"] = close(x.grad, math.fsum(cs))
        report["grad"], report["expected"] = x.grad, math.fsum(cs)
        report["grad_twice_ok"] = True
        del root, cs
    else:
        raise ValueError(scenario)
    report["kept_blocks"] = allocated_blocks() - blocks0
    report["seconds"] = time.perf_counter() - t0
    print(json.dumps(report))


def run_child(scenario, engine_name):
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), scenario, engine_name],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
        env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")))
    assert proc.returncode == 0, (
        f"exit status {proc.returncode} (negative: killed by that signal)\n{proc.stderr[-4000:]}")
    assert "RecursionError" not in proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{scenario} {engine_name}: {result}")
    return result


# ------------------------------------------------------------- the tests

@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["cython", "python"])
@pytest.mark.parametrize("scenario", ["chain", "sum", "fan_out"])
def test_huge_graph(scenario, engine_name):
    r = run_child(scenario, engine_name)
    assert r["value_ok"], r
    assert r["grad_ok"], r
    assert r["grad_twice_ok"], r
    if scenario == "sum":
        assert r["second_backward"] == "RuntimeError"
    if "draw" in r and r["draw"] != "regrad.draw not available":
        assert r["draw"].startswith("refused: the graph has 1"), r["draw"]
    assert r["kept_blocks"] < KEPT_BLOCKS, f"{r['kept_blocks']} blocks not freed"


def test_references_are_right_on_a_small_chain(Var):
    """The forward-mode reference of the chain agrees with PyTorch (so that
    the 10^6 chain is checked against something right)."""
    torch = pytest.importorskip("torch")

    class T:
        def __new__(cls, v, req_grad=False):
            return torch.tensor(float(v), dtype=torch.float64, requires_grad=req_grad)
    tx, troot, value, deriv = chain(T, 2000)
    troot.backward()
    assert close(troot.item(), value, 1e-12) and close(tx.grad.item(), deriv)
    x, root, _, _ = chain(Var, 2000)
    root.backward()
    assert close(root.val, value, 1e-12) and close(x.grad, deriv)


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2])
