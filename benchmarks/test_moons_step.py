"""MLP training throughput on the moons step, compiled and pure engines.

The step is GUIDE.md's: MLP(2, [16, 16, 1]) on 100 two-moons points (noise
0.1), hinge loss ``relu(1 - y*score)`` averaged plus 1e-4 * sum(p*p), SGD
(``regrad.apps.moons.step``). Three benchmarks per engine, in three groups:

- ``moons forward``: build the loss graph (freeing it is outside the timing);
- ``moons backward``: ``backward()`` on a graph built outside the timing
  (it releases the graph as it goes, so that is timed too);
- ``moons step``: the whole step: build, zero_grad, backward, update, free.

pytest-benchmark's OPS column is then steps (or passes) per second. The pure
engine takes about half a second per step: it runs fewer rounds (``ROUNDS``).
"""
import gc
import itertools

import pytest

import regrad
from regrad.apps.bench import Workload, count_nodes, learning_rate
from regrad.apps.moons import build_model, loss, step

ENGINES = {"compiled": "cython", "pure": "python"}
ROUNDS = {"compiled": 30, "pure": 5}


class Moons:
    def __init__(self, name):
        self.name = name
        self.engine = regrad.get_engine(ENGINES[name])
        self.work = Workload()
        self.model = build_model(self.work.hidden, seed=self.work.seed, engine=self.engine)
        self.params = self.model.parameters()
        self.k = itertools.count()

    def loss(self):
        return loss(self.model, self.work.X, self.work.y, self.work.alpha)[0]

    def step(self):
        w = self.work
        step(self.model, w.X, w.y, learning_rate(next(self.k)), w.alpha, self.params)


# the pure engine takes about half a second a step: its smoke tests are slow ones
@pytest.fixture(scope="module", params=["compiled", pytest.param("pure", marks=pytest.mark.slow)])
def moons_setup(request):
    m = Moons(request.param)
    m.step()                                  # warm up
    m.nodes = count_nodes(m.loss())
    return m


@pytest.fixture
def moons(moons_setup, benchmark):
    benchmark.extra_info.update(engine=moons_setup.name, nodes=moons_setup.nodes)
    return moons_setup


def test_forward(benchmark, moons):
    benchmark.group = "moons forward (graph build)"
    held = []

    def setup():
        held.clear()                          # free the last graph, untimed
        gc.collect()

    benchmark.pedantic(lambda: held.append(moons.loss()), setup=setup,
                       rounds=ROUNDS[moons.name], warmup_rounds=1)
    assert held and held[0].req_grad


def test_backward(benchmark, moons):
    benchmark.group = "moons backward"

    def setup():
        gc.collect()
        root = moons.loss()
        moons.model.zero_grad()
        return (root,), {}

    benchmark.pedantic(lambda root: root.backward(), setup=setup,
                       rounds=ROUNDS[moons.name], warmup_rounds=1)
    assert all(p.grad is not None for p in moons.params)


def test_step(benchmark, moons):
    benchmark.group = "moons step (build, zero_grad, backward, update)"
    before = [p.val for p in moons.params]
    benchmark.pedantic(moons.step, setup=gc.collect, rounds=ROUNDS[moons.name],
                       warmup_rounds=1)
    assert [p.val for p in moons.params] != before
