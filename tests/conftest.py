"""Shared fixtures: every API test runs against both engines."""
import pytest

import regrad
import seed

ENGINES = ["cython", "python"]


def _load(name):
    try:
        return regrad.get_engine(name)
    except ImportError as exc:  # the compiled engine must be built for the suite
        raise RuntimeError(f"the compiled engine is not built ({exc}): run `pip install -e .`") from exc


@pytest.fixture(params=ENGINES)
def engine(request):
    """The engine module (``regrad._core`` or ``regrad.pure``); use ``engine.Var``."""
    return _load(request.param)


@pytest.fixture(params=ENGINES)
def Var(request):
    """The ``Var`` class of each engine in turn."""
    return _load(request.param).Var


@pytest.fixture
def seed_example():
    """The function that builds the seed README's example from a ``Var`` class."""
    return seed.seed_example
