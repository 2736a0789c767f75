"""What a Hessian-vector product costs next to one gradient, on the moons loss.

    python benchmarks/hvp_cost.py [--rounds 7] [--engines cython,python] [--samples 100]

The loss is the moons step's (``regrad.apps.moons.loss``: MLP(2, [16, 16, 1])
on 100 two-moons points, hinge loss plus 1e-4 times the squared parameters),
as a function of the 337 parameters. Per engine, in one interleaved run
(each round times the three in turn; medians of the rounds):

- ``backward``: build the loss, ``loss.backward()`` (the engine's own pass);
- ``grad``: build the loss, ``regrad.grad(loss, params)`` (the walk of
  ``regrad.autodiff``, the same on both engines);
- ``hvp``: ``regrad.hvp(loss, params, v)``: build the loss, build its gradient
  as a graph (``create_graph=True``), one tangent sweep over that graph.

Also printed: the nodes of the loss's graph and of its gradient's graph.
"""
import argparse
import random
import statistics
import time

import regrad
from regrad.apps.moons import build_model, loss, make_moons


def moons_loss(engine, samples=100):
    """The loss as a function of the parameters, and their values."""
    X, y = make_moons(samples, noise=0.1, seed=1)
    model = build_model([16, 16], seed=0, engine=engine)
    values = [p.val for p in model.parameters()]

    def f(*params):
        it = iter(params)
        for layer in model.layers:
            for neuron in layer.neurons:
                neuron.w = [next(it) for _ in neuron.w]
                neuron.b = next(it)
        return loss(model, X, y)[0]
    return f, values


def graph_size(*outputs):
    seen, stack = set(), list(outputs)
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            stack.extend(v.src or ())
    return len(seen)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--engines", default="cython,python")
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args(argv)
    rng = random.Random(0)
    for name in args.engines.split(","):
        engine = regrad.get_engine(name)
        f, values = moons_loss(engine, args.samples)
        v = [rng.uniform(-1, 1) for _ in values]

        def leaves():
            return [engine.Var(x, req_grad=True) for x in values]

        def backward():
            f(*leaves()).backward()

        def grad():
            xs = leaves()
            regrad.grad(f(*xs), xs)

        def hvp():
            regrad.hvp(f, values_as_vars, v)

        values_as_vars = [engine.Var(x) for x in values]
        xs = leaves()
        out = f(*xs)
        gs = regrad.grad(out, xs, create_graph=True)
        print(f"{name}: {len(values)} parameters, loss graph {graph_size(out)} nodes, "
              f"loss and gradient graph {graph_size(*gs)} nodes")
        del out, gs, xs
        times = {"backward": [], "grad": [], "hvp": []}
        for _ in range(args.rounds):
            for label, fn in (("backward", backward), ("grad", grad), ("hvp", hvp)):
                t = time.perf_counter()
                fn()
                times[label].append(time.perf_counter() - t)
        med = {k: statistics.median(t) for k, t in times.items()}
        print(f"{name}: median of {args.rounds} rounds: backward {med['backward'] * 1e3:.1f} ms, "
              f"grad {med['grad'] * 1e3:.1f} ms, hvp {med['hvp'] * 1e3:.1f} ms; "
              f"hvp / backward {med['hvp'] / med['backward']:.2f}, "
              f"hvp / grad {med['hvp'] / med['grad']:.2f}")


if __name__ == "__main__":
    main()
