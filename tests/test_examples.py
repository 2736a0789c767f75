"""The scripts in examples/ run as users run them, on each engine."""
import os
import re
import subprocess
import sys

import pytest

import regrad
from regrad.apps.moons import build_model, make_moons, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def _has_draw_to_html():
    try:
        from tools import draw_to_html  # noqa: F401
    except ImportError:
        return False
    return True


needs_drawing = pytest.mark.skipif(not _has_draw_to_html(),
                                   reason="tools.draw_to_html is not available")


@pytest.fixture(params=["cython", "python"])
def run_example(request, tmp_path):
    """Run an example script in a fresh working directory on one engine."""
    name = request.param
    regrad.get_engine(name)          # the compiled engine must be built, as in conftest
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("REGRAD_PURE_PYTHON", None)
    if name == "python":
        env["REGRAD_PURE_PYTHON"] = "1"

    def run(script, *args):
        r = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "Warning" not in r.stderr, r.stderr       # e.g. a fallback to the pure engine
        return r.stdout

    run.engine = name
    run.cwd = tmp_path
    return run


def _check_drawing(cwd, stdout, name):
    assert f"drawing: {name}.html" in stdout
    text = (cwd / f"{name}.html").read_text(encoding="utf-8")
    assert "<svg" in text


@needs_drawing
def test_basic_0_example(run_example):
    out = run_example("basic_0_example.py")
    assert out.splitlines()[:3] == ["24.7041", "222.1341", "978.7784"]   # the README's numbers
    _check_drawing(run_example.cwd, out, "computed_graph_pow")


@needs_drawing
def test_basic_1_sigmoid(run_example):
    out = run_example("basic_1_sigmoid.py")
    assert "sigmoid(0.5) = 0.6225, d sigmoid/dx = 0.2350" in out
    _check_drawing(run_example.cwd, out, "computed_graph_sigmoid")
    text = (run_example.cwd / "computed_graph_sigmoid.html").read_text(encoding="utf-8")
    for op in ("Neg", "Exp", "Add", "Div"):      # the whole graph, not only its root
        assert op in text


@needs_drawing
def test_basic_2_mlp(run_example):
    out = run_example("basic_2_mlp.py")
    assert "number of parameters 13" in out
    assert "MLP-[Layer-[ReLU-Neuron(2), ReLU-Neuron(2), ReLU-Neuron(2)], " \
           "Layer-[Linear-Neuron(3)]]" in out
    _check_drawing(run_example.cwd, out, "computed_graph_mlp")


def test_basic_3_nn(run_example):
    steps = 100 if run_example.engine == "cython" else 3     # the pure engine is slow
    out = run_example("basic_3_nn.py", str(steps))
    assert "number of parameters 337" in out
    printed = re.findall(r"^step (\d+) loss ([\d.]+), accuracy ([\d.]+)%$", out, re.M)
    assert [int(k) for k, _, _ in printed] == list(range(steps))
    # the same recipe as the job's train(): the same losses
    X, y = make_moons(100, noise=0.1, seed=1337)
    model = build_model([16, 16], seed=1337, engine=regrad.get_engine(run_example.engine))
    history = train(model, X, y, epochs=steps)
    assert [loss for _, loss, _ in printed] == [f"{s.loss:.4f}" for s in history]
    if steps == 100:
        assert float(printed[-1][2]) >= 97.0
    picture = re.search(r"^decision boundary: (.+)$", out, re.M).group(1)
    assert os.path.getsize(run_example.cwd / picture) > 1000


@pytest.mark.parametrize("arg", ["abc", "0", "-5"])
def test_basic_3_nn_bad_steps_is_a_usage_error(arg, tmp_path):
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "basic_3_nn.py"), arg],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 2 and r.stdout == ""
    assert "Traceback" not in r.stderr and "STEPS is a whole number" in r.stderr
    assert os.listdir(tmp_path) == []
