"""Shared fixtures: every API test runs against both engines."""
import gc

import pytest

import regrad
import seed

ENGINES = ["cython", "python"]


def pytest_collection_finish(session):
    """What collection imported (PyTorch, hypothesis, the test modules) lives to
    the end: frozen, the garbage collector stops walking it at every full
    collection the tests trigger (a quarter of the CPU time of the tests that
    build many graphs)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def threads_on_small_batches(monkeypatch):
    """A batch tape shares a batch between threads from a few lanes a thread
    (by default only from regrad._messages.LANES_PER_THREAD, 512), so that
    the tests' small batches run every threaded path."""
    monkeypatch.setattr(regrad._messages, "LANES_PER_THREAD", 1)


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


@pytest.fixture
def unwritable_dir(tmp_path):
    """A directory that takes no new file, for this user (root ignores
    permission bits: then sysfs, which refuses everyone)."""
    import os
    import tempfile
    candidate = tmp_path / "read-only"
    candidate.mkdir()
    candidate.chmod(0o500)
    for d in (str(candidate), "/sys"):
        try:
            fd, probe = tempfile.mkstemp(dir=d)
        except OSError:
            yield d
            break
        os.close(fd)
        os.remove(probe)
    else:
        pytest.skip("no directory here refuses new files")
    candidate.chmod(0o700)
