"""The two-moons data, the training recipe and ``python -m regrad moons``."""
import io
import math
import os
import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import regrad
from regrad.apps import moons, plot
from regrad.apps.args import layer_sizes
from regrad.apps.main import main
from regrad.apps.moons import (EpochStats, accuracy, build_model, loss, make_moons, predict, step,
                          train)
from tools.nn import MLP

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------- data

def test_moons_sizes_and_labels():
    X, y = make_moons(7, noise=0.1, seed=0)
    assert len(X) == len(y) == 7
    assert all(len(p) == 2 and all(isinstance(c, float) for c in p) for p in X)
    assert sorted(y) == [-1] * 3 + [1] * 4      # n // 2 on the upper moon
    X, y = make_moons(100, noise=0.1, seed=0)
    assert y.count(-1) == y.count(1) == 50
    assert make_moons(1, noise=0.0, seed=0) == ([(0.0, 0.5)], [1])


def test_moons_shape_without_noise():
    X, y = make_moons(41, noise=0.0, seed=3)
    for (a, b), label in zip(X, y):
        if label == -1:    # upper half circle around (0, 0)
            assert math.hypot(a, b) == pytest.approx(1.0) and b >= 0
        else:              # lower half circle around (1, 0.5)
            assert math.hypot(a - 1, b - 0.5) == pytest.approx(1.0) and b <= 0.5 + 1e-12
    upper = sorted(p for p, label in zip(X, y) if label == -1)
    lower = sorted(p for p, label in zip(X, y) if label == 1)
    assert upper[0] == pytest.approx((-1.0, 0.0), abs=1e-12)
    assert upper[-1] == pytest.approx((1.0, 0.0), abs=1e-12)
    assert lower[0] == pytest.approx((0.0, 0.5), abs=1e-12)
    assert lower[-1] == pytest.approx((2.0, 0.5), abs=1e-12)
    # evenly spaced angles: equal steps along each arc
    angles = sorted(math.atan2(b, a) for a, b in upper)
    steps = [t1 - t0 for t0, t1 in zip(angles, angles[1:])]
    assert max(steps) - min(steps) < 1e-9
    assert steps[0] == pytest.approx(math.pi / (len(upper) - 1))
    assert len(set(map(tuple, X))) == 41
    assert y != sorted(y)                      # shuffled


def test_moons_noise_is_gaussian_with_the_given_deviation():
    clean, y0 = make_moons(4000, noise=0.0, seed=9)
    noisy, y1 = make_moons(4000, noise=0.1, seed=9)
    assert y0 == y1
    d = [n[k] - c[k] for n, c in zip(noisy, clean) for k in (0, 1)]
    mean = sum(d) / len(d)
    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / len(d))
    assert abs(mean) < 0.01
    assert sd == pytest.approx(0.1, rel=0.05)
    assert sum(abs(v) < 0.1 for v in d) / len(d) == pytest.approx(0.683, abs=0.03)


def test_moons_deterministic_by_seed_and_leaves_global_random_alone():
    random.seed(5)
    before = random.random()
    random.seed(5)
    assert make_moons(50, 0.2, seed=1) == make_moons(50, 0.2, seed=1)
    assert random.random() == before
    assert make_moons(50, 0.2, seed=1) != make_moons(50, 0.2, seed=2)


@pytest.mark.parametrize("n, noise", [(0, 0.1), (10, -1.0)])
def test_moons_rejects_bad_arguments(n, noise):
    with pytest.raises(ValueError):
        make_moons(n, noise)


# ------------------------------------------------------------ the recipe

def _original_demo(model, X, y, steps):
    """micrograd's demo loop, as the original regrad's basic_3_nn.py runs it."""
    Var = type(model.parameters()[0])
    out = []
    for k in range(steps):
        inputs = [list(map(Var, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        alpha = 1e-4
        reg_loss = alpha * sum((p * p for p in model.parameters()))
        total_loss = data_loss + reg_loss
        accuracy = [(yi > 0) == (scorei.val > 0) for yi, scorei in zip(y, scores)]
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / steps
        for p in model.parameters():
            p.val -= learning_rate * p.grad
        out.append((total_loss.val, sum(accuracy) / len(accuracy)))
    return out, [p.val for p in model.parameters()]


def test_train_gives_the_original_losses_bit_for_bit(engine):
    X, y = make_moons(30, noise=0.1, seed=4)
    expected, weights = _original_demo(build_model([6, 5], seed=8, engine=engine), X, y, 6)
    model = build_model([6, 5], seed=8, engine=engine)
    history = train(model, X, y, epochs=6)
    assert [(s.loss, s.accuracy) for s in history] == expected
    assert [p.val for p in model.parameters()] == weights
    assert [s.lr for s in history] == [1.0 - 0.9 * k / 6 for k in range(6)]
    assert [s.epoch for s in history] == list(range(6))


def test_both_engines_train_to_the_same_bits():
    X, y = make_moons(40, noise=0.1, seed=2)
    runs = []
    for name in ("python", "cython"):
        model = build_model([5, 4], seed=2, engine=regrad.get_engine(name))
        runs.append(([s.loss for s in train(model, X, y, epochs=4)],
                     [p.val for p in model.parameters()]))
    assert runs[0] == runs[1]


def test_build_model_seeds_the_global_random(engine):
    model = build_model([16, 16], seed=1337, engine=engine)
    random.seed(1337)
    reference = MLP(2, [16, 16, 1], engine=engine)
    assert repr(model) == repr(reference)
    assert [p.val for p in model.parameters()] == [p.val for p in reference.parameters()]


def test_loss_without_l2_and_step(engine):
    X, y = make_moons(10, noise=0.1, seed=1)
    model = build_model([3], seed=1, engine=engine)
    with_l2, _ = loss(model, X, y)
    without, acc = loss(model, X, y, alpha=0)
    reg = sum(p.val * p.val for p in model.parameters())
    assert with_l2.val == pytest.approx(without.val + 1e-4 * reg, rel=1e-12)
    scores = predict(model, X)
    assert without.val == pytest.approx(
        sum(max(0.0, 1 - yi * s) for yi, s in zip(y, scores)) / len(y), rel=1e-12)
    assert acc == accuracy(model, X, y)
    value, acc2 = step(model, X, y, lr=0.1, alpha=0)
    assert (value, acc2) == (without.val, acc)


def test_predict_matches_the_graph_bit_for_bit(engine):
    X, _ = make_moons(25, noise=0.2, seed=6)
    model = build_model([7, 3], seed=6, engine=engine)
    assert predict(model, X) == [model(x).val for x in X]


def test_mini_batches(engine):
    X, y = make_moons(10, noise=0.1, seed=3)
    model = build_model([4], seed=3, engine=engine)
    calls = []
    original = moons.step

    def counting_step(model, Xb, yb, *args):
        calls.append(len(Xb))
        return original(model, Xb, yb, *args)

    moons.step = counting_step
    try:
        seen = []
        history = train(model, X, y, epochs=2, batch_size=4, seed=0, callback=seen.append,
                        path="dynamic")
    finally:
        moons.step = original
    assert calls == [4, 4, 2, 4, 4, 2]
    assert seen == history and len(history) == 2
    assert all(isinstance(s, EpochStats) and 0 <= s.accuracy <= 1 for s in history)
    # a batch as large as the data is the full batch
    a = build_model([4], seed=3, engine=engine)
    b = build_model([4], seed=3, engine=engine)
    assert ([s.loss for s in train(a, X, y, epochs=3, batch_size=10)] ==
            [s.loss for s in train(b, X, y, epochs=3)])


def test_train_takes_the_lanes_by_default(engine, monkeypatch):
    """From Python as from the command line: the fastest path, never the
    dynamic step, with the dynamic step's losses and weights to the bit."""
    X, y = make_moons(24, noise=0.1, seed=5)
    reference = build_model([4, 3], seed=5, engine=engine)
    expected = [(s.loss, s.accuracy) for s in train(reference, X, y, epochs=3, path="dynamic")]
    built, Lanes = [], moons.LanesStep
    monkeypatch.setattr(moons, "step", lambda *args: pytest.fail("the dynamic step ran"))
    monkeypatch.setattr(moons, "LanesStep", lambda *a, **k: built.append(1) or Lanes(*a, **k))
    model = build_model([4, 3], seed=5, engine=engine)
    assert [(s.loss, s.accuracy) for s in train(model, X, y, epochs=3)] == expected
    assert built == [1] and moons.DEFAULTS["path"] == "lanes"
    assert [p.val for p in model.parameters()] == [p.val for p in reference.parameters()]


def test_small_setting_reaches_good_accuracy():
    """(The job runs this setting on both engines: test_job_end_to_end_svg.)"""
    X, y = make_moons(60, noise=0.1, seed=1337)
    model = build_model([8, 8], seed=1337, engine=regrad.get_engine("cython"))
    history = train(model, X, y, epochs=40)
    assert history[-1].loss < history[0].loss / 3
    assert accuracy(model, X, y) >= 0.9


def test_defaults_reach_97_percent():
    """The job's default recipe, on the compiled engine (the pure engine
    gives the same bits: test_both_engines_train_to_the_same_bits)."""
    d = moons.DEFAULTS
    X, y = make_moons(d["samples"], d["noise"], d["seed"])
    model = build_model(d["hidden"], seed=d["seed"], engine=regrad.get_engine("cython"))
    train(model, X, y, epochs=d["epochs"], lr=d["lr"], alpha=d["alpha"])
    assert accuracy(model, X, y) >= 0.97


# ------------------------------------------------------------ progress

class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_plain_lines_otherwise():
    history = [EpochStats(k, 1.0 / (k + 1), 0.5, 1.0, 0.1 * k) for k in range(5)]
    term = _Terminal()
    bar = moons.Progress(5, stream=term)
    for s in history:
        bar.update(s)
    bar.close()
    text = term.getvalue()
    assert text.startswith("\r") and "[" in text and text.endswith("\n")
    assert "epoch 5/5" in text and "\n" not in text[:-1]

    piped = io.StringIO()
    lines = moons.Progress(5, stream=piped)
    for s in history:
        lines.update(s)
    lines.close()
    out = piped.getvalue().splitlines()
    assert len(out) == 5 and "\r" not in piped.getvalue()
    assert out[0] == "epoch 1/5  loss 1.0000  accuracy  50.0%"

    many = io.StringIO()
    p = moons.Progress(1000, stream=many)
    for k in range(1000):
        p.update(EpochStats(k, 1.0, 1.0, 1.0, 0.0))
    assert len(many.getvalue().splitlines()) == 101        # every 10th and the last


# ---------------------------------------------------------------- the job

def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("REGRAD_PURE_PYTHON", None)
    return subprocess.run([sys.executable, "-m", "regrad", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


_SMALL = ["moons", "--epochs", "40", "--samples", "60", "--hidden", "8,8"]
_SHOWN = {"cython": "compiled", "python": "pure"}


def _final_accuracy(stdout):
    return float(re.search(r"final accuracy ([\d.]+)%", stdout).group(1))


def _picture(stdout):
    return re.search(r"^picture: (.+)$", stdout, re.M).group(1)


@pytest.mark.parametrize("name", ["cython", "python"])
def test_job_end_to_end_svg(tmp_path, name):
    r = _run(_SMALL + ["--engine", _SHOWN[name], "--out", "boundary.svg"], tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "epoch  1/40  loss" in out and "epoch 40/40  loss" in out      # plain lines when piped
    assert _final_accuracy(out) >= 90.0
    assert re.search(r"time [\d.]+ m?s for 40 epochs, [\d.]+ m?s per epoch "
                     rf"\({_SHOWN[name]} engine\)", out)
    path = _picture(out)
    assert path == str(tmp_path / "boundary.svg")
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    circles = root.findall(".//{http://www.w3.org/2000/svg}circle")
    assert len(circles) == 60 + 2                              # the points and the legend
    assert len(root.findall(".//{http://www.w3.org/2000/svg}polyline")) == 2
    assert "http" not in open(path).read().replace("http://www.w3.org/2000/svg", "")


def test_job_default_picture_is_png_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    r = _run(["moons", "--epochs", "5", "--samples", "20"], tmp_path)    # default: compiled engine
    assert r.returncode == 0, r.stderr
    assert "compiled engine" in r.stdout
    assert _picture(r.stdout) == str(tmp_path / "moons.png")
    with open(tmp_path / "moons.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_job_html_and_directory_outputs(tmp_path, capsys):
    assert main(["moons", "--epochs", "3", "--samples", "20", "--hidden", "4",
                 "--out", str(tmp_path / "m.html")]) == 0
    capsys.readouterr()
    text = (tmp_path / "m.html").read_text()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "<script" not in text
    (tmp_path / "pics").mkdir()
    assert main(["moons", "--epochs", "3", "--samples", "20", "--hidden", "4",
                 "--batch-size", "8", "--out", str(tmp_path / "pics")]) == 0
    out = capsys.readouterr().out
    assert "batches of 8" in out
    assert os.path.exists(_picture(out)) and os.path.dirname(_picture(out)) == str(tmp_path / "pics")


def test_job_without_matplotlib_writes_svg(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)       # import matplotlib fails
    monkeypatch.chdir(tmp_path)
    assert main(["moons", "--epochs", "3", "--samples", "20", "--hidden", "4"]) == 0
    assert _picture(capsys.readouterr().out) == str(tmp_path / "moons.svg")
    ET.parse(tmp_path / "moons.svg")
    with pytest.raises(SystemExit) as exc:
        main(["moons", "--epochs", "3", "--out", str(tmp_path / "x.png")])
    assert exc.value.code == 2 and "needs matplotlib" in capsys.readouterr().err


def test_job_no_picture(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["moons", "--epochs", "2", "--samples", "10", "--hidden", "3",
                 "--no-picture"]) == 0
    assert "picture" not in capsys.readouterr().out
    assert os.listdir(tmp_path) == []


def test_picture_survives_a_diverged_run(tmp_path, engine):
    X, y = make_moons(20, noise=0.1, seed=0)
    model = build_model([4], seed=0, engine=engine)
    history = [EpochStats(0, 1.0, 0.5, 1.0, 0.0), EpochStats(1, math.inf, 0.5, 1.0, 0.0),
               EpochStats(2, math.nan, 0.5, 1.0, 0.0)]
    for p in model.parameters():
        p.val = math.nan
    for ext in ("svg", "html"):
        plot.save_moons_picture(str(tmp_path / f"d.{ext}"), model, X, y, history)
    svg = (tmp_path / "d.svg").read_text(encoding="utf-8")
    assert svg.split("\n", 1)[1] in (tmp_path / "d.html").read_text(encoding="utf-8")
    assert not re.search(r'="[^"]*(nan|inf)', svg)       # every coordinate a number
    assert "#dddddd" in svg                                # nan scores: grey regions
    doc = ET.fromstring(svg.split("\n", 1)[1])
    loss_line = [el for el in doc.iter("{http://www.w3.org/2000/svg}polyline")
                 if el.get("stroke") == plot._LOSS]
    ys = [float(pt.split(",")[1]) for pt in loss_line[0].get("points").split()]
    box = [el for el in doc.iter("{http://www.w3.org/2000/svg}rect")
           if el.get("fill") == "none" and el.get("stroke") == "#444444"]
    top, bottom = float(box[-1].get("y")), float(box[-1].get("y")) + float(box[-1].get("height"))
    assert len(ys) == 3 and all(top <= v <= bottom for v in ys)
    assert ys[1] == ys[2] == top                           # inf and nan at the top of the box


# ------------------------------------------------------------ CLI errors

@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs: must be at least 1"),
    (["--epochs", "ten"], "--epochs: expected a whole number"),
    (["--samples", "-5"], "--samples: must be at least 1"),
    (["--noise", "-0.1"], "--noise: must be a finite number >= 0"),
    (["--noise", "nan"], "--noise: must be a finite number >= 0"),
    (["--hidden", "16,x"], "--hidden: expected comma-separated whole numbers"),
    (["--hidden", "16,0"], "--hidden: every layer needs at least 1 neuron"),
    (["--hidden", ","], "--hidden: expected layer sizes"),
    (["--batch-size", "0"], "--batch-size: must be at least 1"),
    (["--lr", "0"], "--lr: must be a finite number > 0"),
    (["--lr", "fast"], "--lr: expected a number"),
    (["--alpha", "-1"], "--alpha: must be a finite number >= 0"),
    (["--seed", "1.5"], "--seed: expected a whole number"),
    (["--engine", "gpu"], "--engine: unknown engine 'gpu'"),
])
def test_bad_option_values(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["moons", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: python -m regrad moons" in err
    assert f"python -m regrad moons: error: argument {message}" in err


def test_unknown_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["moons", "--frobnicate"])
    assert exc.value.code == 2
    assert "error: unrecognized arguments: --frobnicate" in capsys.readouterr().err


@pytest.mark.parametrize("out, message", [
    ("moons.jpg", "must end in .png, .svg or .html"),
    ("no/such/dir/m.svg", "no directory"),
    ("no/such/dir/", "cannot write a picture into 'no/such/dir/': no directory"),
    ("no/such/dir", "no directory"),
])
def test_bad_output_paths_fail_before_training(tmp_path, monkeypatch, capsys, out, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["moons", "--out", out])
    assert exc.value.code == 2                    # a bad option value, as documented
    captured = capsys.readouterr()
    assert "python -m regrad moons: error: argument --out: " in captured.err
    assert message in captured.err
    assert captured.out == ""                     # nothing trained
    if out.endswith("/"):
        assert "must end in" not in captured.err  # a directory is not blamed on its extension


@pytest.mark.parametrize("name", ["m.svg", "m.html", None])
def test_an_unwritable_output_directory_fails_before_training(unwritable_dir, capsys, name):
    out = unwritable_dir if name is None else os.path.join(unwritable_dir, name)
    with pytest.raises(SystemExit) as exc:
        main(["moons", "--epochs", "1", "--out", out])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert f"python -m regrad moons: error: argument --out: cannot write a picture to " in (
        captured.err)
    assert captured.err.strip().splitlines()[-1].startswith("python -m regrad moons: error:")
    assert captured.out == ""                     # nothing trained


def test_out_and_no_picture_contradict(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["moons", "--out", "x.svg", "--no-picture"])
    assert exc.value.code == 2
    assert "not allowed with argument --out" in capsys.readouterr().err


def test_empty_hidden_layer_size_is_refused(capsys):
    for text in ("16,,16", "16,", ",16", "16, ,16"):
        with pytest.raises(SystemExit) as exc:
            main(["moons", "--hidden", text])
        assert exc.value.code == 2
        assert "--hidden: a layer size is missing" in capsys.readouterr().err
    assert layer_sizes("16, 8") == layer_sizes("16 8") == [16, 8]


@pytest.mark.parametrize("hidden", ["1", "4,1", "1,16"])
def test_hidden_layers_of_one_neuron(hidden, tmp_path, capsys):
    # a layer of one neuron returns a bare Var; the next layer must still take it
    assert main(["moons", "--hidden", hidden, "--epochs", "2", "--samples", "10",
                 "--no-picture"]) == 0
    assert "final accuracy" in capsys.readouterr().out


def test_a_diverging_run_says_so(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["moons", "--lr", "1e308", "--epochs", "5", "--samples", "10", "--no-picture"])
    assert "training diverged: the loss is nan" in str(exc.value.code)
    assert "try a smaller --lr" in str(exc.value.code)


def test_header_counts_points_in_the_singular(capsys):
    assert main(["moons", "--samples", "1", "--epochs", "1", "--hidden", "2",
                 "--no-picture"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("two moons: 1 point (") and "1 points" not in out


def test_unavailable_engine_is_a_clear_error(monkeypatch, capsys):
    def no_compiled(name=None):
        raise ImportError("No module named 'regrad._core'")
    monkeypatch.setattr(regrad, "get_engine", no_compiled)
    with pytest.raises(SystemExit) as exc:
        main(["moons", "--engine", "compiled", "--no-picture"])
    assert "compiled engine is not available" in str(exc.value.code)
    assert "--engine pure" in str(exc.value.code)


def test_cli_errors_end_to_end(tmp_path):
    for args, status in ((["moons", "--epochs", "-3"], 2), (["moons", "--out", "x.gif"], 2),
                         (["moons", "--out", "missing/"], 2), (["nonsense"], 2)):
        r = _run(args, tmp_path)
        assert r.returncode == status, (args, r.stderr)
        assert "error:" in r.stderr and "Traceback" not in r.stderr
        assert r.stderr.count("\n") <= 8
        assert r.stderr.splitlines()[-1].startswith("python -m regrad")


def test_no_command_prints_help(tmp_path):
    r = _run([], tmp_path)
    assert r.returncode == 0 and r.stderr == ""
    assert "usage: python -m regrad" in r.stdout and "moons" in r.stdout and "bench" in r.stdout


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["moons", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--epochs", "--samples", "--noise", "--seed", "--hidden", "--batch-size",
                   "--lr", "--engine", "--out"):
        assert option in out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "moons" in capsys.readouterr().out


def test_count_right_is_the_plain_count():
    """The lanes' accuracy, counted on the scores' bytes, is the plain
    ``sum((yi > 0) == (si > 0))``, zeros, infinities, subnormals and NaN included."""
    from array import array
    rng = random.Random(5)
    special = [0.0, -0.0, math.inf, -math.inf, 5e-324, -5e-324, math.nan]
    for trial in range(300):
        n = rng.randint(1, 130)
        scores = array("d", [rng.gauss(0, 1) if trial % 2 or rng.random() < 0.8
                             else rng.choice(special) for _ in range(n)])
        positive = bytes([rng.random() < 0.5 for _ in range(n)])
        want = sum((p == 1) == (s > 0) for p, s in zip(positive, scores))
        nan = any(x != x for x in scores)
        assert moons._count_right(positive, scores, maybe_nan=nan) == want
