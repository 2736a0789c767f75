"""The comparison report: ``python -m regrad bench``.

Runs the moons step (GUIDE.md's recipe, ``regrad.apps.moons.step``) for several
contenders in one process, interleaved round-robin, and prints a table of
milliseconds per step, speed-up over regrad's pure engine and bytes held per
graph node; then the cost per node of build + backward + free as graphs grow
from 10^3 to 10^6 nodes; then whether the compiled engine meets its targets in
this run. It writes the step table as a bar chart (PNG with matplotlib, else
SVG) and says which machine it ran on.

The contenders, each a small class in ``CONTENDERS`` (adding one is a class
with ``setup()`` and ``step()``):

- ``compiled``: regrad's compiled engine, ``regrad.apps.moons.step``;
- ``replay``: a recorded tape replayed each step (``regrad.compile``), when
  this version of regrad has it;
- ``lanes``: one point's loss recorded once (``regrad.compile(..., inputs=)``)
  and run over the points at once, ``regrad.apps.moons.LanesStep``;
- ``pure``: regrad's pure-Python engine, ``regrad.apps.moons.step`` (the baseline);
- ``micrograd``: ``pip install micrograd``, its own ``nn.MLP``, the same loss;
- ``torch-scalar``: PyTorch on the same scalar graph: the parameters are 0-d
  float64 tensors in ``regrad.nn``'s MLP;
- ``torch-batched``: the same MLP as float64 matrices, one thread;
- ``numpy``: the same MLP as float64 matrices in NumPy, backward by hand;
- ``jax``: ``pip install jax``, the whole step under ``jax.jit`` (its compile
  time shows in the "first step" column), the loss read as a float every
  step, which waits for the step;
- ``jax-loop``: the same, run as JAX users run it: ten steps in a loop that
  reads the loss only at the end (each step dispatched while the last runs);
- ``casadi``: ``pip install casadi``, the loss as an SX expression: one
  point's Function mapped over the points, its gradient a Function;
- ``c``: the step written by hand in C (``benchmarks/moons_step.c``: per-layer
  loops over the points, sums in point order, no FMA), built now when a C
  compiler is there: the distance to a plain loop;
- ``floats``: the same forward pass on plain Python floats, in the same
  Python structure (``regrad.nn``'s classes); no graph, no backward: the
  interpreter's floor for building the graph.

Every contender starts from the same weights (``random.seed(seed)`` before
the model is made) and the same data; the first loss of every contender is
checked against the compiled engine's.

Measuring: each round runs every contender (in an order rotated each round)
for at least ``--min-time`` seconds and at least one step, and keeps the
median step time of that round; a contender's time is the median over rounds,
and a ratio between two contenders is the median of their per-round ratios.
Steps are timed by this process's CPU time (``--clock wall``: wall-clock
time), so that on a shared machine the time spent waiting for a core is not
counted; the report says how much of a core the timed code got.
``gc.collect()`` runs (untimed) before each contender's turn; the cyclic
garbage collector stays on during the steps. Bytes per node: tracemalloc
over building the loss graph once (after ``gc.collect()``; the compiled
engine reports each node to tracemalloc, taken from its pool or not),
divided by the number of nodes in the graph (found through ``.src``, deduped,
counting constants and leaves).

The modules: ``bench_workload`` (the step, node counts, the scaling graphs),
``bench_contenders``, ``bench_measuring`` (timing, bytes, RSS, scaling),
``bench_machine``, ``bench_targets``, ``bench_formatting`` (text and
Markdown), ``bench_pictures`` (the bar chart); this one runs a report and is
the command line, and offers all of their names.
"""
import argparse
import math
import os
import sys
import time

from . import history
from .args import check_writable, layer_sizes, names_from, nonnegative, positive_int
from .bench_workload import (count_nodes, learning_rate, moons_loss, scaling_graph, SCALING_SHAPES,
                             SCALING_SIZES, SCALING_TARGET_SIZES, ScalingGraph, WORKLOAD, Workload)
from .bench_measuring import (CLOCKS, measure_bytes, measure_rss, measure_scaling, measure_steps,
                              Usage, _median, _paired_ratio, _say)
from .bench_machine import machine_description, _load
from .bench_formatting import format_markdown, format_report
from .bench_targets import TARGETS, _targets
from .bench_contenders import (CasadiSX, Contender, CONTENDER_KEYS, CONTENDERS, HAND_C_FLAGS,
                               HAND_C_SOURCE, HandWrittenC, JaxJit, JaxLoop, Micrograd,
                               NumpyByHand, PlainFloats, RegradCompiled, RegradEngine, RegradLanes,
                               RegradPure, RegradReplay, TorchBatched, TorchScalar)
from .bench_pictures import bench_svg, save_picture

__all__ = ["WORKLOAD", "TARGETS", "CONTENDERS", "SCALING_SHAPES", "SCALING_SIZES",
           "Workload", "Contender", "learning_rate", "count_nodes", "moons_loss",
           "scaling_graph", "measure_steps", "measure_bytes", "measure_rss", "measure_scaling",
           "machine_description", "run_report", "add_parser", "run"]


class Report:
    """The results of one run: ``rows`` in table order (dicts), ``scaling``,
    ``targets`` (list of dicts), the machine, the workload."""

    def __init__(self, work, rows, scaling, targets, machine, notes, settings):
        self.work, self.rows, self.scaling, self.targets = work, rows, scaling, targets
        self.machine, self.notes, self.settings = machine, notes, settings

    def as_dict(self):
        return dict(workload=dict(samples=self.work.samples, hidden=list(self.work.hidden),
                                  noise=self.work.noise, seed=self.work.seed,
                                  alpha=self.work.alpha, nodes=self.settings.get("nodes")),
                    machine=list(self.machine), settings=self.settings, rows=self.rows,
                    scaling={s: {str(n): dict(nodes=nodes, seconds=t) for n, (nodes, t)
                                 in d.items()} for s, d in self.scaling.items()},
                    targets=self.targets, notes=self.notes)


def run_report(work=None, keys=CONTENDER_KEYS, rounds=5, min_time=0.2,
               scaling_shapes=SCALING_SHAPES, scaling_sizes=SCALING_SIZES,
               scaling_rounds=3, clock="cpu", progress=sys.stderr):
    """Measure everything; returns a ``Report``."""
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r}: expected 'cpu' or 'wall'")
    work = work or Workload()
    usage = Usage()
    load_start = _load()
    rows, contenders = _set_up(keys, work, progress)
    by_key = {c.key: c for c in contenders}
    reference = by_key.get("compiled") or by_key.get("pure")
    nodes = None if reference is None else count_nodes(reference.build_graph())
    notes = _first_losses_disagree(rows)

    _say(progress, f"timing the moons step: {rounds} interleaved rounds")
    per_round, steps = measure_steps(contenders, rounds, min_time, clock, progress, usage)

    _say(progress, "measuring bytes per node")
    for r in rows:
        if r["key"] in by_key:
            _fill_row(r, by_key[r["key"]], per_round, steps[r["key"]])
    contenders.clear()

    scaling = {}
    if scaling_shapes and scaling_sizes:
        _say(progress, "timing build + backward + free as graphs grow (compiled engine)")
        try:
            scaling = measure_scaling(scaling_shapes, scaling_sizes, scaling_rounds,
                                      min_time / 2, "cython", clock, progress, usage)
        except ImportError as exc:
            notes.append(f"scaling not measured: the compiled engine is not built ({exc})")

    targets = _targets(rows, per_round, scaling, work)
    load_end = _load()
    settings = dict(rounds=rounds, min_time=min_time, scaling_rounds=scaling_rounds,
                    nodes=nodes, load_start=load_start, load_end=load_end, clock=clock,
                    cpu_share=usage.share)
    return Report(work, rows, scaling, targets, machine_description(), notes, settings)


def _set_up(keys, work, progress):
    """A row for each contender of ``keys`` (in table order), and those that can
    run here, set up and run once: the warm-up, the first step's time and loss."""
    contenders, rows = [], []
    for cls in CONTENDERS:
        if cls.key not in keys:
            continue
        c = cls()
        row = dict(key=c.key, label=c.label, missing=c.missing())
        rows.append(row)
        if row["missing"] is None:
            _say(progress, f"setting up {c.label}")
            start = time.perf_counter()
            c.setup(work)
            row["first_loss"] = float(c.step(0))      # warm-up, and the cross-check
            c.next_step = getattr(c, "steps_per_call", 1)
            row["first_step"] = time.perf_counter() - start
            contenders.append(c)
    return rows, contenders


def _first_losses_disagree(rows):
    """A note for each contender whose first loss is not the first one's."""
    notes = []
    ref_loss = next((r["first_loss"] for r in rows if "first_loss" in r), None)
    for r in rows:
        if "first_loss" in r and ref_loss is not None:
            diff = abs(r["first_loss"] - ref_loss) / max(abs(ref_loss), 1e-300)
            if diff > 1e-9:
                notes.append(f"{r['label']}: first loss {r['first_loss']!r} differs from "
                             f"{ref_loss!r}: not the same computation")
    return notes


def _fill_row(r, c, per_round, steps):
    """Contender ``c``'s row: its times over the rounds, its ratio to the pure
    engine, its bytes per node."""
    r["ms"] = _median(per_round[c.key]) * 1e3
    r["ms_min"] = min(per_round[c.key]) * 1e3
    r["ms_max"] = max(per_round[c.key]) * 1e3
    r["steps"] = steps
    r["rounds"] = per_round[c.key]
    r["speedup"] = (_paired_ratio(per_round["pure"], per_round[c.key])
                    if "pure" in per_round else None)
    b = c.bytes_per_node()
    if b is None:
        r["bytes_note"] = c.bytes_note
    else:
        r["bytes"], r["bytes_rounded"], r["nodes"] = b
        rss = measure_rss(c) if c.key in ("compiled", "pure") else None
        if rss is not None:
            r["bytes_rss"] = rss


_contenders = names_from(CONTENDER_KEYS, "contender")


_shapes = names_from(SCALING_SHAPES, "graph shape")


def _node_counts(text):
    sizes = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected node counts such as 1e4,1e6, got {part!r}") from None
        if not math.isfinite(value) or value != int(value) or not 10 <= value <= 10**8:
            raise argparse.ArgumentTypeError(
                f"a node count must be a whole number from 10 to 1e8, got {part}")
        sizes.append(int(value))
    if not sizes:
        raise argparse.ArgumentTypeError("expected node counts such as 1e4,1e6")
    return sorted(set(sizes))


def add_parser(subparsers):
    """Register the ``bench`` subcommand on an argparse ``subparsers``."""
    keys = ", ".join(CONTENDER_KEYS)
    p = subparsers.add_parser(
        "bench", help="compare regrad's engines, micrograd and PyTorch on the moons step",
        description="Time the moons training step (MLP(2, [16, 16, 1]), 100 points, hinge "
                    "loss + L2, SGD) in one process, interleaved, for regrad's compiled and "
                    "pure engines, micrograd, PyTorch (scalar graph and batched) and the same "
                    "forward pass on plain floats; print ms per step, speed-up over the pure "
                    "engine and bytes held per node, the cost per node as graphs grow, and "
                    "whether the compiled engine meets its targets; write a bar chart. "
                    f"Contenders: {keys}.",
        epilog="example: python -m regrad bench --rounds 9 --skip torch-scalar --out bench.svg")
    p.add_argument("--rounds", type=positive_int, default=5, metavar="N",
                   help="interleaved rounds over the contenders (default: %(default)s)")
    p.add_argument("--min-time", type=nonnegative, default=0.2, metavar="SEC",
                   help="time each contender runs per round, at least one step "
                        "(default: %(default)s)")
    p.add_argument("--only", type=_contenders, default=None, metavar="NAMES",
                   help=f"run only these contenders, comma-separated ({keys})")
    p.add_argument("--skip", type=_contenders, default=[], metavar="NAMES",
                   help="leave these contenders out, comma-separated")
    p.add_argument("--samples", type=positive_int, default=WORKLOAD["samples"], metavar="N",
                   help="points per step (default: %(default)s; the targets are for 100)")
    p.add_argument("--hidden", type=layer_sizes, default=list(WORKLOAD["hidden"]), metavar="SIZES",
                   help="hidden layer sizes (default: 16,16)")
    p.add_argument("--scaling-sizes", type=_node_counts, default=list(SCALING_SIZES),
                   metavar="COUNTS",
                   help="graph sizes for the scaling runs, in nodes (default: 1e3,1e4,1e5,1e6)")
    p.add_argument("--scaling-shapes", type=_shapes, default=list(SCALING_SHAPES),
                   metavar="SHAPES", help="graphs for the scaling runs (default: chain,sum,mlp)")
    p.add_argument("--scaling-rounds", type=positive_int, default=3, metavar="N",
                   help="interleaved rounds of the scaling runs (default: %(default)s)")
    p.add_argument("--no-scaling", action="store_true", help="skip the scaling runs")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                   help="time steps by this process's CPU time (default: waiting for a core "
                        "on a busy machine is not counted) or by wall-clock time")
    p.add_argument("--out", metavar="PATH", default=None,
                   help="picture file: .png (needs matplotlib), .svg or .html; a directory "
                        "gets bench.png/.svg inside (default: bench.png in the working "
                        "directory, or bench.svg without matplotlib)")
    p.add_argument("--no-picture", action="store_true", help="do not write a picture")
    p.add_argument("--json", metavar="PATH", default=None,
                   help="also write the results as JSON to PATH")
    p.add_argument("--markdown", action="store_true",
                   help="also print the tables as Markdown (for the README)")
    p.add_argument("--record", nargs="?", const=history.DEFAULT_PATH, default=None,
                   metavar="PATH", help="append this run to a history file (default: "
                   f"{history.DEFAULT_PATH})")
    p.add_argument("--history", nargs="?", const=history.DEFAULT_PATH, default=None,
                   metavar="PATH", help="run nothing: draw steps per second over the runs "
                   f"recorded in PATH (default: {history.DEFAULT_PATH}) into --out "
                   "(default bench_history.svg) and print them")
    p.set_defaults(run=run, parser=p)
    return p


def _fail(message):
    raise SystemExit(f"python -m regrad bench: error: {message}")


def run(args):
    """The ``bench`` subcommand. Returns the exit status."""
    import json

    from . import plot
    if args.history is not None:
        return _draw_history(args)
    keys = [k for k in (args.only or CONTENDER_KEYS) if k not in args.skip]
    if not keys:
        _fail("no contender left to run (--only and --skip exclude them all)")
    out, option = None, "--out"
    try:                              # every output path before the work: usage errors
        if not args.no_picture:
            out = plot.picture_path(args.out, "bench")
        option = "--json"
        if args.json:
            check_writable(args.json, "the results")
        option = "--record"
        if args.record:
            check_writable(args.record, "the history")
    except ValueError as exc:
        args.parser.error(f"argument {option}: {exc}")
    work = Workload(samples=args.samples, hidden=args.hidden)
    rep = run_report(work, keys, args.rounds, args.min_time,
                     [] if args.no_scaling else args.scaling_shapes,
                     [] if args.no_scaling else args.scaling_sizes,
                     args.scaling_rounds, args.clock)
    print(format_report(rep), flush=True)
    if args.markdown:
        print("\n" + format_markdown(rep), flush=True)
    if out is not None:
        try:
            save_picture(rep, out)
        except OSError as exc:
            _fail(f"cannot write the picture {out}: {exc.strerror or exc}")
        print(f"picture: {os.path.abspath(out)}")
    if args.json:
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(rep.as_dict(), f, indent=1)
        except OSError as exc:
            _fail(f"cannot write {args.json}: {exc.strerror or exc}")
        print(f"json: {os.path.abspath(args.json)}")
    if args.record:
        try:
            history.append(args.record, history.entry(rep.as_dict()))
        except OSError as exc:
            _fail(f"cannot append to {args.record}: {exc.strerror or exc}")
        print(f"recorded in {os.path.abspath(args.record)}")
    return 0


def _draw_history(args):
    out = args.out or "bench_history.svg"
    try:
        if not out.lower().endswith(".svg"):
            raise ValueError(f"{out!r}: the history is drawn as .svg")
        check_writable(out, "the history's picture")
    except ValueError as exc:
        args.parser.error(f"argument --out: {exc}")
    try:
        runs = history.load(args.history)
    except OSError as exc:
        _fail(f"cannot read {args.history}: {exc.strerror or exc}")
    except ValueError as exc:
        _fail(str(exc))
    if not runs:
        _fail(f"{args.history} holds no run yet: record one with --record")
    if not any(run["rows"] for run in runs):
        _fail(f"{args.history} holds no timing: its runs have no rows")
    print(history.table(runs))
    text = history.svg(runs)
    try:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}")
    print(f"picture: {os.path.abspath(out)}")
    return 0
