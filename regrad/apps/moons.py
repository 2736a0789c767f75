"""Two moons: the data, the seed's training recipe, and ``python -m regrad moons``.

The recipe (micrograd's demo, which the original regrad's ``basic_3_nn.py``
follows), reusable piece by piece::

    from regrad.apps.moons import make_moons, build_model, train, accuracy
    X, y = make_moons(100, noise=0.1, seed=1337)   # points (x0, x1), labels -1/+1
    model = build_model([16, 16], seed=1337)       # MLP(2, [16, 16, 1])
    history = train(model, X, y, epochs=100)       # SGD, lr 1.0 -> 0.1
    print(accuracy(model, X, y))

One step builds the graph of ``loss(model, X, y)`` (max-margin loss
``relu(1 - y*score)`` averaged over the batch, plus ``alpha * sum(p*p)`` over
the parameters), runs ``backward()`` and moves every parameter by
``-lr * grad``: that is ``step()``. With the defaults the graph has about
65,000 nodes.

``train()`` (from Python as from the command line) takes its fastest
path, ``path="lanes"``: it records one point's loss
graph on input Vars with ``regrad.compile(..., inputs=...)`` and runs it over
every batch at once (see ``regrad.lanes``); ``path="replay"`` (``replay=True``)
builds the whole step's graph once per batch size and replays it (see
``regrad.replay``). Both run the same operations on the same numbers and add
the gradients up in the same order: the same losses as the dynamic engine,
to the bit, without rebuilding the graph in Python.
"""
import argparse
import math
import os
import random
import shutil
import sys
import time
from array import array
from dataclasses import dataclass
from functools import reduce
from operator import add, eq

from .args import layer_sizes, nonnegative, positive, positive_int, whole_number
from .floats import predict

__all__ = ["make_moons", "build_model", "loss", "step", "ReplayStep", "LanesStep", "train",
           "predict", "accuracy", "EpochStats", "add_parser", "run"]

DEFAULTS = dict(samples=100, noise=0.1, seed=1337, hidden=(16, 16), epochs=100,
                lr=1.0, alpha=1e-4, batch_size=None, path="lanes", threads=1)
PATHS = ("lanes", "replay", "dynamic")


# ---------------------------------------------------------------------- data

def _linspace(start, stop, num):
    if num == 1:
        return [float(start)]
    return [start + (stop - start) * i / (num - 1) for i in range(num)]


def make_moons(n_samples=100, noise=0.1, seed=None):
    """Two interleaving half circles, scikit-learn's ``make_moons`` recipe.

    The upper moon (label -1) is ``(cos t, sin t)``, the lower one (label +1)
    ``(1 - cos t, 1 - sin t - 0.5)``, ``t`` evenly spaced over ``[0, pi]``;
    ``n_samples // 2`` points on the upper moon, the rest on the lower one.
    The points are shuffled, then Gaussian noise of standard deviation
    ``noise`` is added to each coordinate. ``seed`` seeds a private
    ``random.Random`` (the global ``random`` is untouched), so a seed always
    gives the same data; the numbers differ from scikit-learn's, the shape does not.

    Returns ``(X, y)``: a list of ``(x0, x1)`` float pairs and a list of
    labels, -1 or +1 (scikit-learn's 0/1 as ``2*y - 1``).
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, not {n_samples}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, not {noise}")
    rng = random.Random(seed)
    n_upper = n_samples // 2
    n_lower = n_samples - n_upper
    points = [(math.cos(t), math.sin(t)) for t in _linspace(0.0, math.pi, n_upper)]
    points += [(1.0 - math.cos(t), 1.0 - math.sin(t) - 0.5)
               for t in _linspace(0.0, math.pi, n_lower)]
    labels = [-1] * n_upper + [1] * n_lower
    order = list(range(n_samples))
    rng.shuffle(order)
    X = []
    for i in order:
        x0, x1 = points[i]
        if noise:
            x0 += rng.gauss(0.0, noise)
            x1 += rng.gauss(0.0, noise)
        X.append((x0, x1))
    y = [labels[i] for i in order]
    return X, y


# --------------------------------------------------------------------- model

def build_model(hidden=(16, 16), seed=None, engine=None):
    """``MLP(2, [*hidden, 1])`` from ``regrad.nn``, parameters in ``engine``.

    ``seed`` (if not None) seeds Python's global ``random`` first, as the
    seed demo does with ``random.seed(1337)``: the weights are then the
    original's. ``engine``: None (the default engine), a name or an engine
    module (see ``regrad.nn``).
    """
    from regrad.nn import MLP
    if seed is not None:
        random.seed(seed)
    return MLP(2, list(hidden) + [1], engine=engine)


def loss(model, X, y, alpha=1e-4):
    """Build the training loss of ``model`` on ``(X, y)``; returns
    ``(total, accuracy)``: the loss Var (call ``backward()`` on it) and the
    fraction of points whose score has the sign of their label.

    ``total = mean(relu(1 - y_i * score_i)) + alpha * sum(p*p for p in params)``,
    built exactly as micrograd's demo builds it (the same operations in the
    same order, so the same values bit for bit). ``X`` holds pairs of numbers
    (or of Vars), ``y`` labels -1/+1.
    """
    total, scores = _graph(model, X, [-yi for yi in y], alpha)
    correct = sum((yi > 0) == (scorei.val > 0) for yi, scorei in zip(y, scores))
    return total, correct / len(y)


def _graph(model, X, neg_y, alpha):
    """The graph of ``loss()``: ``(total, scores)``. ``neg_y`` holds ``-y``
    (numbers, or input Vars for replay): ``-yi * scorei`` is ``(-yi) * scorei``."""
    scores = list(map(model, X))
    losses = [(1 + nyi * scorei).relu() for nyi, scorei in zip(neg_y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    if alpha:
        reg_loss = alpha * sum((p * p for p in model.parameters()))
        total = data_loss + reg_loss
    else:
        total = data_loss
    return total, scores


def step(model, X, y, lr, alpha=1e-4, params=None):
    """One SGD step on ``(X, y)``: build ``loss()``, zero the gradients,
    backward, ``p.val -= lr * p.grad`` for every parameter. Returns
    ``(loss value, accuracy)`` before the update. ``params`` may pass
    ``model.parameters()`` computed once."""
    total, acc = loss(model, X, y, alpha)
    if params is None:
        params = model.parameters()
    model.zero_grad()
    total.backward()
    for p in params:
        p.val -= lr * p.grad
    return total.val, acc


class ReplayStep:
    """``step()`` through static-graph replay (``regrad.compile``).

    For each batch size met, the loss graph is built once on input Vars (the
    points' coordinates and the negated labels, which meet a weight or the
    score before anything else, so they stay leaves of the graph) and
    recorded into a tape; each call loads the batch into those inputs and
    replays forward, backward and the update (``regrad.optim.SGD``: the same
    ``p.val - lr * p.grad``, in one C loop). The graph is the one ``loss()``
    builds (the same operations in the same order on the same numbers), so
    the losses and weights are those of ``step()``.
    """

    def __init__(self, model, alpha=1e-4, params=None):
        from regrad.optim import SGD
        self.model = model
        self.alpha = alpha
        self.params = model.parameters() if params is None else params
        self._sgd = SGD(self.params, lr=0.0) if self.params else None
        self._tapes = {}      # batch size -> (tape, inputs, scores)

    def _record(self, X, y):
        import regrad
        Var = type(self.params[0]) if self.params else regrad.Var
        points = [tuple(Var(c) for c in point) for point in X]
        neg_y = [Var(-yi) for yi in y]
        total, scores = _graph(self.model, points, neg_y, self.alpha)
        tape = regrad.compile(total, outputs=scores)
        inputs = [c for point in points for c in point] + neg_y
        return tape, inputs, scores

    def __call__(self, X, y, lr):
        """One SGD step on ``(X, y)``; returns ``(loss value, accuracy)`` before
        the update, as ``step()`` does."""
        entry = self._tapes.get(len(X))
        if entry is None:
            entry = self._tapes[len(X)] = self._record(X, y)
        tape, inputs, scores = entry
        tape.load(inputs, [c for point in X for c in point] + [-yi for yi in y])
        value = tape.forward()
        correct = sum((yi > 0) == (s.val > 0) for yi, s in zip(y, scores))
        if self._sgd is not None:
            self._sgd.zero_grad()   # backward adds into 0.0 from None as from 0.0: step()'s bits
        tape.backward()
        if self._sgd is not None:
            self._sgd.param_groups[0]["lr"] = lr   # unchecked, as the loop was: any sign
            self._sgd.step()
        return value, correct / len(y)


class LanesStep:
    """``step()`` through lanes (``regrad.compile(..., inputs=...)``).

    One point's loss ``relu(1 + (-y) * score)`` is recorded on three input
    Vars (the coordinates and the negated label, which meet a weight or the
    score first) with the score as an output, and run over each batch, of any
    size, at once: ``BatchTape.step`` computes the mean of the lanes' losses,
    the L2 term, the gradients and the SGD update in one call. The losses, the
    gradients and so the weights are those of ``step()``, to the bit: the
    step's total is added up from the lanes' losses as ``loss()`` adds them,
    the L2 term's gradients come first (the dynamic backward reaches it
    first), then the lanes', seeded with ``1/N`` as the mean passes it, from
    the last point to the first (see ``regrad.lanes``).
    """

    def __init__(self, model, alpha=1e-4, params=None, threads=1):
        import regrad
        from regrad.optim import SGD
        self.params = model.parameters() if params is None else params
        self._sgd = SGD(self.params, lr=0.0) if self.params else None
        Var = type(self.params[0]) if self.params else regrad.Var
        x0, x1, neg_y = Var(0.0), Var(0.0), Var(0.0)
        score = model([x0, x1])
        self.batch = regrad.compile((1 + neg_y * score).relu(), inputs=[x0, x1, neg_y],
                                    outputs=[score], threads=threads)
        self.alpha = alpha
        self._data = None     # (X, y, rows): the full batch is converted once

    def _rows(self, X, y):
        """The batch as rows (x0, x1, -y), and its labels' signs (bytes, 1 where
        a label is positive; and those bytes as a little-endian integer)."""
        if self._data is not None and self._data[0] is X and self._data[1] is y:
            return self._data[2]
        rows = array("d", [v for (x0, x1), yi in zip(X, y) for v in (x0, x1, -yi)])
        positive = bytes([yi > 0 for yi in y])
        self._data = (X, y, (rows, positive, int.from_bytes(positive, "little")))
        return self._data[2]

    def __call__(self, X, y, lr):
        """One SGD step on ``(X, y)``; returns ``(loss value, accuracy)`` before
        the update, as ``step()`` does."""
        batch = self.batch
        rows, positive, positive_bits = self._rows(X, y)
        if self._sgd is None:         # nothing to train: the loss alone
            losses = batch.forward(rows)
            total = reduce(add, losses, 0) * (1.0 / len(losses))   # in turn, as loss() adds
        else:
            self._sgd.param_groups[0]["lr"] = lr   # unchecked, as the loop was: any sign
            total = batch.step(rows, self._sgd, self.alpha or 0.0)
        # a NaN score makes its loss, and so the total, NaN
        right = _count_right(positive, batch.output_values[0], total != total, positive_bits)
        return total, right / len(y)


# per byte: 1 if it is the top byte of a positive float64 (its sign bit clear)
_POSITIVE_TOP_BYTE = bytes(int(b < 0x80) for b in range(256))
_ones = getattr(int, "bit_count", lambda n: bin(n).count("1"))    # int.bit_count: 3.10+


def _count_right(positive, scores, maybe_nan=True, positive_bits=None):
    """``sum((yi > 0) == (si > 0))`` for the labels' signs ``positive`` (bytes
    of 0/1) and the ``scores`` (``array('d')``), in C loops rather than a
    Python step per point: each score's sign, from the top byte of its
    little-endian float64, against the label's, the bytes XOR'd as integers.
    Zeros (not positive, whatever their sign bit) and NaNs (``maybe_nan``)
    take the plain path: a zero's top byte is 0x00 or 0x80, so a score whose
    top byte is one of those (a zero, or under 1e-303 in size) sends the count
    there too. ``positive_bits``: ``positive`` as a little-endian integer,
    if known."""
    top = scores.tobytes()[7::8]
    if sys.byteorder != "little" or maybe_nan or b"\x00" in top or b"\x80" in top:
        return sum(map(eq, positive, map((0.0).__lt__, scores)))
    if positive_bits is None:
        positive_bits = int.from_bytes(positive, "little")
    differ = int.from_bytes(top.translate(_POSITIVE_TOP_BYTE), "little") ^ positive_bits
    return len(scores) - _ones(differ)


@dataclass
class EpochStats:
    """What ``train()`` reports after each epoch."""
    epoch: int          # 0-based
    loss: float         # mean loss over the epoch's steps, weighted by batch size
    accuracy: float     # fraction of the epoch's points classified right before their step
    lr: float           # the epoch's learning rate
    seconds: float      # wall time since training started


def train(model, X, y, epochs=100, lr=1.0, batch_size=None, alpha=1e-4, seed=None,
          callback=None, replay=False, path=None, threads=1):
    """Train ``model`` by SGD; returns a list of ``EpochStats``, one per epoch.

    Epoch ``k`` uses the learning rate ``lr * (1 - 0.9*k/epochs)`` (1.0 down
    to 0.1 by default, micrograd's schedule). ``batch_size=None`` (or >= the
    number of points) makes one full-batch step per epoch, the seed's recipe;
    otherwise each epoch shuffles the points (``random.Random(seed)``) and
    steps once per mini-batch. ``callback(stats)`` is called after each epoch.
    ``path`` chooses how a step runs: ``"dynamic"`` (``step()``, building the
    graph), ``"replay"`` (``ReplayStep``: a tape per batch size, the full
    batch or the mini-batches and a shorter last one) or ``"lanes"``
    (``LanesStep``: one point's graph over each batch, ``threads`` threads);
    the same losses, bit for bit, the last two faster. ``None``: ``"replay"``
    if ``replay`` else ``"lanes"``, the fastest on either engine.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, not {epochs}")
    n = len(X)
    full = batch_size is None or batch_size >= n
    if not full and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    rng = random.Random(seed)
    params = model.parameters()
    if path is None:
        path = "replay" if replay else DEFAULTS["path"]
    if path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(PATHS)}, not {path!r}")
    if path == "lanes":
        do_step = LanesStep(model, alpha, params, threads=threads)
    elif path == "replay":
        do_step = ReplayStep(model, alpha, params)
    else:
        do_step = lambda Xb, yb, rate: step(model, Xb, yb, rate, alpha, params)   # noqa: E731
    history = []
    start = time.perf_counter()
    for k in range(epochs):
        rate = lr * (1.0 - 0.9 * k / epochs)
        if full:
            epoch_loss, epoch_acc = do_step(X, y, rate)
        else:
            order = list(range(n))
            rng.shuffle(order)
            loss_sum = correct = 0.0
            for i in range(0, n, batch_size):
                idx = order[i:i + batch_size]
                value, acc = do_step([X[j] for j in idx], [y[j] for j in idx], rate)
                loss_sum += value * len(idx)
                correct += acc * len(idx)
            epoch_loss, epoch_acc = loss_sum / n, correct / n
        stats = EpochStats(k, epoch_loss, epoch_acc, rate, time.perf_counter() - start)
        history.append(stats)
        if callback is not None:
            callback(stats)
    return history


def accuracy(model, X, y):
    """Fraction of points whose score has the sign of their label."""
    return sum((yi > 0) == (s > 0) for yi, s in zip(y, predict(model, X))) / len(y)


# ----------------------------------------------------------------- the job

_ENGINE_NAMES = {"compiled": "cython", "cython": "cython", "pure": "python", "python": "python"}
_ENGINE_SHOWN = {"cython": "compiled", "python": "pure"}
_PATH_SHOWN = {"lanes": ", lanes", "replay": ", static-graph replay", "dynamic": ""}


def _engine_name(text):
    try:
        return _ENGINE_NAMES[text.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"unknown engine {text!r}: choose compiled or pure") from None


def add_parser(subparsers):
    """Register the ``moons`` subcommand on an argparse ``subparsers``."""
    d = DEFAULTS
    p = subparsers.add_parser(
        "moons", help="train an MLP on the two-moons data and draw its decision boundary",
        description="Train a small MLP to separate two moons (micrograd's and the original "
                    "regrad's demo): "
                    "MLP(2, [16, 16, 1]), max-margin loss relu(1 - y*score) averaged plus "
                    "alpha * sum(p*p), SGD with a learning rate falling linearly from lr to "
                    "lr/10, full batch. Prints progress and a summary, and writes a picture "
                    "of the decision boundary, the data and the loss curve.",
        epilog="example: python -m regrad moons --epochs 200 --hidden 32,32 --out moons.svg")
    p.add_argument("--epochs", type=positive_int, default=d["epochs"], metavar="N",
                   help="passes over the data (default: %(default)s)")
    p.add_argument("--samples", type=positive_int, default=d["samples"], metavar="N",
                   help="number of points (default: %(default)s)")
    p.add_argument("--noise", type=nonnegative, default=d["noise"], metavar="SD",
                   help="standard deviation of the Gaussian noise on the points "
                        "(default: %(default)s)")
    p.add_argument("--seed", type=whole_number, default=d["seed"], metavar="N",
                   help="seeds the data, the initial weights and the batch order "
                        "(default: %(default)s)")
    p.add_argument("--hidden", type=layer_sizes, default=list(d["hidden"]), metavar="SIZES",
                   help="hidden layer sizes, comma-separated; a linear output neuron "
                        "follows (default: 16,16)")
    p.add_argument("--batch-size", type=positive_int, default=d["batch_size"], metavar="N",
                   help="points per SGD step, shuffled each epoch (default: all of them, "
                        "one full-batch step per epoch)")
    p.add_argument("--lr", type=positive, default=d["lr"], metavar="RATE",
                   help="initial learning rate; epoch k uses lr*(1 - 0.9*k/epochs) "
                        "(default: %(default)s)")
    p.add_argument("--alpha", type=nonnegative, default=d["alpha"], metavar="A",
                   help="weight of the L2 penalty alpha*sum(p*p) (default: %(default)s)")
    p.add_argument("--path", choices=PATHS, default=d["path"],
                   help="how a step runs: lanes (one point's graph recorded once and run "
                        "over the batch), replay (the step's graph recorded once per batch "
                        "size and replayed) or dynamic (the graph rebuilt every step); the "
                        "same losses (default: %(default)s)")
    p.add_argument("--replay", dest="path", action="store_const", const="replay",
                   help="the same as --path replay")
    p.add_argument("--no-replay", dest="path", action="store_const", const="dynamic",
                   help="the same as --path dynamic")
    p.add_argument("--threads", type=positive_int, default=d["threads"], metavar="N",
                   help="threads sharing the lanes of a batch (--path lanes; the same "
                        "numbers for any count; default: %(default)s)")
    p.add_argument("--engine", type=_engine_name, default=None, metavar="{compiled,pure}",
                   help="compiled (Cython) or pure (Python) engine (default: the one "
                        "`import regrad` picks: compiled unless REGRAD_PURE_PYTHON=1)")
    picture = p.add_mutually_exclusive_group()
    picture.add_argument("--out", metavar="PATH", default=None,
                         help="picture file: .png (needs matplotlib), .svg or .html; a "
                              "directory gets moons.png/.svg inside (default: moons.png in "
                              "the working directory, or moons.svg without matplotlib)")
    picture.add_argument("--no-picture", action="store_true", help="do not write a picture")
    p.set_defaults(run=run, parser=p)
    return p


def _fail(message):
    """Leave with a one-line error on stderr and exit status 1."""
    raise SystemExit(f"python -m regrad moons: error: {message}")


class _Diverged(Exception):
    """Training stopped: the loss is no longer a finite number."""


def _load_engine(name):
    import regrad
    name = regrad.BACKEND if name is None else name
    try:
        return name, regrad.get_engine(name)
    except ImportError as exc:
        _fail(f"the compiled engine is not available ({exc}); build it with "
              "`pip install -e .`, or use --engine pure")


class Progress:
    """Per-epoch progress: a redrawn bar on a terminal, plain lines otherwise."""

    def __init__(self, epochs, stream=None, interactive=None):
        self.epochs = epochs
        self.stream = sys.stdout if stream is None else stream
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty and isatty())
        self.interactive = interactive
        self.every = max(1, math.ceil(epochs / 100))   # plain lines: at most ~100
        self._last_draw = 0.0
        self._drawn = False

    def update(self, s):
        last = s.epoch + 1 == self.epochs
        text = f"loss {s.loss:.4f}  accuracy {100 * s.accuracy:5.1f}%"
        width = len(str(self.epochs))
        if self.interactive:
            now = time.perf_counter()
            if not last and now - self._last_draw < 0.05:
                return
            self._last_draw = now
            columns = shutil.get_terminal_size((80, 24)).columns
            head = f"epoch {s.epoch + 1:>{width}}/{self.epochs} "
            tail = f" {text}  {s.seconds:.1f}s"
            bar_width = max(10, min(40, columns - len(head) - len(tail) - 3))
            done = round(bar_width * (s.epoch + 1) / self.epochs)
            bar = "=" * done + (">" if done < bar_width else "") + " " * (bar_width - done - 1)
            line = f"{head}[{bar[:bar_width]}]{tail}"
            self.stream.write("\r" + line[:columns - 1])     # never wrap: \r could not undo it
            self._drawn = True
        elif s.epoch % self.every == 0 or last:
            self.stream.write(f"epoch {s.epoch + 1:>{width}}/{self.epochs}  {text}\n")
        self.stream.flush()

    def close(self):
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _count(n, noun):
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _fmt_time(seconds):
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.1f} ms"


def run(args):
    """The ``moons`` subcommand: train, report, draw. Returns the exit status."""
    from . import plot

    engine_name, engine = _load_engine(args.engine)
    shown_engine = _ENGINE_SHOWN[engine_name]
    out = None
    if not args.no_picture:
        try:
            out = plot.picture_path(args.out, "moons")
        except ValueError as exc:     # a bad option value: usage error, status 2
            args.parser.error(f"argument --out: {exc}")

    X, y = make_moons(args.samples, args.noise, args.seed)
    model = build_model(args.hidden, seed=args.seed, engine=engine)
    sizes = ", ".join(str(s) for s in args.hidden + [1])
    batch = ("full batch" if args.batch_size is None or args.batch_size >= args.samples
             else f"batches of {args.batch_size}")
    print(f"two moons: {_count(args.samples, 'point')} (noise {args.noise:g}, seed {args.seed}); "
          f"MLP(2, [{sizes}]), {len(model.parameters())} parameters; {_count(args.epochs, 'epoch')}, "
          f"{batch}, lr {args.lr:g}, {shown_engine} engine{_PATH_SHOWN[args.path]}",
          flush=True)

    progress = Progress(args.epochs)

    def report(stats):
        progress.update(stats)
        if not math.isfinite(stats.loss):
            raise _Diverged(stats)

    start = time.perf_counter()
    try:
        history = train(model, X, y, epochs=args.epochs, lr=args.lr,
                        batch_size=args.batch_size, alpha=args.alpha, seed=args.seed,
                        callback=report, path=args.path, threads=args.threads)
    except _Diverged as exc:
        stats = exc.args[0]
        _fail(f"training diverged: the loss is {stats.loss} at epoch {stats.epoch + 1} "
              f"(learning rate {stats.lr:g}); try a smaller --lr")
    finally:
        progress.close()
    elapsed = time.perf_counter() - start
    final = accuracy(model, X, y)

    points = "the training point" if args.samples == 1 else f"the {args.samples} training points"
    print(f"final accuracy {100 * final:.1f}% on {points}, "
          f"loss {history[-1].loss:.4f}")
    print(f"time {_fmt_time(elapsed)} for {_count(args.epochs, 'epoch')}, "
          f"{_fmt_time(elapsed / args.epochs)} per epoch ({shown_engine} engine)")
    if out is not None:
        title = (f"MLP(2, [{sizes}]), {_count(args.epochs, 'epoch')}, {shown_engine} engine: "
                 f"accuracy {100 * final:.1f}%")
        try:
            plot.save_moons_picture(out, model, X, y, history, title=title)
        except OSError as exc:
            _fail(f"cannot write the picture {out}: {exc.strerror or exc}")
        print(f"picture: {os.path.abspath(out)}")
    return 0
