"""What the build reports (``regrad.build_info()``), and the lane kernels'
builds: the baseline one and, where the CPU has it, the AVX2 one give the
same bits on random lane programs (and the pure engine's)."""
import os
import random
import subprocess
import sys
from array import array

import pytest

import regrad

# the folder that holds the regrad under test: the source tree, or site-packages
# when the tests run against an installed wheel (cibuildwheel's test command)
HOME = os.path.dirname(os.path.dirname(os.path.abspath(regrad.__file__)))


def run_python(code, *options, **env):
    return subprocess.run([sys.executable, *options, "-c", code], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=HOME, **env), cwd=HOME,
                          check=True)


def test_build_info_names_the_engine_the_compiler_and_the_simd_build():
    info = regrad.build_info()
    assert info["engine"] == regrad.BACKEND == "cython"
    assert info["version"] == regrad.__version__
    assert info["compiler"].split()[0] in ("GCC", "clang", "MSVC")
    assert info["simd"] in info["simd_available"]
    assert info["simd_available"][0] == "baseline"
    if not os.environ.get("REGRAD_SIMD"):
        assert info["simd"] == info["simd_available"][-1]      # the best this CPU runs


def test_build_info_of_the_pure_engine():
    out = run_python("import regrad; i = regrad.build_info(); "
                     "print(i['engine'], i['compiler'], i['simd'])", REGRAD_PURE_PYTHON="1")
    assert out.stdout.split() == ["python", "None", "None"]


def test_regrad_simd_chooses_the_build_and_a_missing_one_warns():
    code = "import regrad; print(regrad.build_info()['simd'])"
    assert run_python(code, REGRAD_SIMD="baseline").stdout.split() == ["baseline"]
    proc = run_python(code, "-W", "always", REGRAD_SIMD="sse9")
    assert "no 'sse9' build of the lane kernels" in proc.stderr
    assert proc.stdout.split() == [regrad.build_info()["simd_available"][-1]]


def random_sample(E, rng):
    """A random graph of one sample over three inputs: every operator, inside
    its domain, and neurons' chains of products and sums (the DOT kernel),
    with parameters used once and more than once."""
    xs = [E.Var(0.0, req_grad=True) for _ in range(3)]
    ws = [E.Var(rng.uniform(-1.5, 1.5), req_grad=True) for _ in range(6)]
    regs = [w * x for w, x in zip(ws, xs)]     # every input in the graph
    for _ in range(rng.randrange(6, 14)):
        a, b, w = rng.choice(regs), rng.choice(regs), rng.choice(ws)
        kind = rng.randrange(17)
        if kind < 3:              # a neuron: b + w0*x0 + w1*x1 + ...
            r = w
            for x in rng.sample(regs, min(len(regs), rng.randrange(1, 5))):
                r = r + rng.choice(ws) * x
        else:
            r = [lambda: a + b, lambda: a - w, lambda: a * b, lambda: a / (1 + b * b),
                 lambda: -a, lambda: (a * a + 0.5) ** 1.5, lambda: a.tanh().exp(),
                 lambda: (1 + a * a).log(), lambda: (a * a + w * w).sqrt(),
                 lambda: a.sin(), lambda: b.cos(), lambda: (a * w).relu(),
                 lambda: a.sigmoid(), lambda: abs(a - b)][kind - 3]()
        regs.append(r)
    root = sum(regs, regs[-1] * 0.5)
    return root, xs, ws


def run_lanes(E, seed, n, **kw):
    rng = random.Random(seed)
    root, xs, ws = random_sample(E, rng)
    data = array("d", [rng.uniform(-2, 2) for _ in range(3 * n)])
    dy = array("d", [rng.uniform(-1, 1) for _ in range(n)])
    batch = regrad.compile(root, inputs=xs, **kw)
    out = batch.forward(data)
    grads = batch.backward(dy, input_grads=True)
    return out.tobytes(), grads.tobytes(), array("d", [w.grad or 0.0 for w in ws]).tobytes()


@pytest.mark.parametrize("seed", range(12))
def test_every_simd_build_gives_the_same_bits(seed):
    from regrad import _lanes
    variants = _lanes.simd_variants()
    if len(variants) == 1:
        pytest.skip("one build of the lane kernels here (no AVX2 in this CPU or build)")
    core, pure = regrad.get_engine("cython"), regrad.get_engine("python")
    n = 7 + 13 * seed
    results = {}
    before = _lanes.use_simd(None)
    try:
        for name in variants:
            _lanes.use_simd(name)
            results[name] = [run_lanes(core, seed, n),
                             run_lanes(core, seed, n, threads=2, block=8)]
    finally:
        _lanes.use_simd(before)
    reference = run_lanes(pure, seed, n)
    for name, (one, threaded) in results.items():
        assert one == reference, f"{name} differs from the pure engine"
        assert threaded == reference, f"{name} with threads differs from the pure engine"


def test_use_simd_refuses_a_build_it_does_not_have():
    from regrad import _lanes
    with pytest.raises(ValueError, match="no 'sse9' build of the lane kernels"):
        _lanes.use_simd("sse9")
