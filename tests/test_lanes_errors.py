"""The batch tapes' error paths, against the dynamic engine and the pure tape.

A batch must raise exactly what the dynamic engine raises for the first sample
that fails (type, message, sample index), whatever the block size and the
threads, with other failures and infinities or NaN in other lanes; a failed
forward leaves nothing to differentiate. The compiled tape's workers stop
their share before the call returns when one cannot start or the caller is
interrupted, and the tape stays usable.
"""
import math
import random
import struct
import threading

import numpy as np
import pytest

import regrad

ENGINES = ["cython", "python"]
VARIANTS = [dict(block=1), dict(block=2, threads=2), dict(block=3, threads=3),
            dict(block=4), dict(block=8, threads=2), dict()]

# values that put some operator out of its domain, at its edges, or nowhere
SPECIAL = [0.0, -0.0, 1.5, -2.0, 0.5, 2.0, 710.0, -710.0, 1e200, -1e200, math.inf, -math.inf,
           math.nan, 1.0, -1.0, 3.0]


def _pow(e):
    return lambda a: a ** e


# each operator's every error kind: (name, function of (w, x, y)); x, y are
# inputs, w a parameter: each operator with lanes and with a scalar operand
PROGRAMS = [
    ("div", lambda w, x, y: x / y),
    ("div scalar divisor", lambda w, x, y: x / w),
    ("div scalar dividend", lambda w, x, y: w / y),
    ("pow 1.5", lambda w, x, y: x ** 1.5),
    ("pow -1", lambda w, x, y: x ** -1.0),
    ("pow -0.5", lambda w, x, y: x ** -0.5),
    ("pow 1000", lambda w, x, y: x ** 1000.0),
    ("pow of a scalar", lambda w, x, y: (w ** 0.5) * x + (w ** -3.0)),
    ("exp", lambda w, x, y: x.exp()),
    ("exp of a scalar", lambda w, x, y: w.exp() + x),
    ("log", lambda w, x, y: x.log()),
    ("log of a scalar", lambda w, x, y: w.log() * x),
    ("sqrt", lambda w, x, y: x.sqrt()),
    ("sin", lambda w, x, y: x.sin()),
    ("cos", lambda w, x, y: y.cos()),
    ("sin of a scalar", lambda w, x, y: w.sin() * x),
    ("log then sin", lambda w, x, y: x.log().sin()),
    ("two failures, made in the other order", lambda w, x, y: y.sqrt() + (w * x).log()),
    ("a neuron then log", lambda w, x, y: (w * x + w * y + 1.0).log() + (x / y).cos()),
    ("every kind", lambda w, x, y: ((w * x).exp() / y.sin() + (y - x).sqrt() * x ** 2.5)),
    # the operators that never raise, feeding those that do
    ("relu, abs, tanh, sigmoid into log", lambda w, x, y: (((-x).relu() + 0.5 * x.abs()).log()
                                                          + (w * y).tanh().sigmoid().log())),
    ("abs and neg into sqrt and exp", lambda w, x, y: (x.abs() - 1.0).sqrt() * (-y).exp()),
]
# both inputs in every graph (compile refuses an input the graph lacks); a
# difference never raises
PROGRAMS = [(name, lambda w, x, y, f=f: f(w, x, y) + (x - y)) for name, f in PROGRAMS]


def _outcome(fn):
    """('ok', value) or ('error', type, message)."""
    try:
        return ("ok", fn())
    except (ValueError, ZeroDivisionError, OverflowError) as e:
        return ("error", type(e), str(e))


def _dynamic(E, program, wv, data):
    """Each sample's graph built anew: the values, or the first failing sample's
    error, as the batch must report it."""
    out = []
    for i, (xv, yv) in enumerate(data):
        def run():
            w = E.Var(wv, req_grad=True)
            x, y = E.Var(xv, req_grad=True), E.Var(yv, req_grad=True)
            return program(w, x, y).val
        got = _outcome(run)
        if got[0] == "error":
            return ("error", got[1], f"sample {i}: {got[2]}")
        out.append(got[1])
    return ("ok", _bits(out))


def _bits(values):
    """Values to compare to the bit (any NaN equal to any NaN)."""
    return [struct.pack("<d", v) if not math.isnan(v) else "nan" for v in values]


def _batch(E, program, wv, data, **options):
    w = E.Var(1.25, req_grad=True)                 # recorded in every domain
    x, y = E.Var(1.5, req_grad=True), E.Var(2.0, req_grad=True)
    batch = regrad.compile(program(w, x, y), inputs=[x, y], **options)
    w.val = wv
    return batch, w


def check(program, wv, data, variants=VARIANTS):
    """Both engines' dynamic results, then both tapes in every variant."""
    want = _dynamic(regrad.get_engine("python"), program, wv, data)
    assert _dynamic(regrad.get_engine("cython"), program, wv, data) == want
    for name in ENGINES:
        E = regrad.get_engine(name)
        for options in variants:
            batch, w = _batch(E, program, wv, data, **options)
            got = _outcome(lambda: list(batch.forward(data)))
            where = (name, options, wv, data)
            if want[0] == "error":
                assert got == want, where
                with pytest.raises(RuntimeError, match="no successful forward"):
                    batch.backward()
                # and the tape still runs the samples before the failing one
                n = int(want[2].split(":")[0].split()[1])
                assert _bits(batch.forward(data[:n])) == _dynamic(E, program, wv,
                                                                  data[:n])[1], where
            else:
                assert got[0] == "ok" and _bits(got[1]) == want[1], where
    return want


@pytest.mark.parametrize("name,program", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_one_failure_at_every_position_of_a_block(name, program, specials=SPECIAL[::2],
                                                  variants=VARIANTS[:3] + VARIANTS[4:5]):
    """Special values alone among good samples at every position of 7 samples
    (blocks of 1 to 8 lanes): the first failure and nothing else."""
    good = (1.5, 2.0)
    kinds = set()
    for bad in specials:
        for row in ((bad, 2.0), (1.5, bad)):
            for at in range(7):
                data = [good] * 7
                data[at] = row
                got = check(program, 1.25, data, variants)
                if got[0] == "error":
                    kinds.add(got[1])
    for wv in (0.0, -1.0, 1e200, math.inf, -math.inf, math.nan):   # the scalar operand
        got = check(program, wv, [good] * 5, variants)
        if got[0] == "error":
            kinds.add(got[1])
    assert kinds, "the program never fails: it tests nothing"


@pytest.mark.slow
@pytest.mark.parametrize("name,program", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_every_special_value_at_every_position_of_a_block(name, program):
    test_one_failure_at_every_position_of_a_block(name, program, SPECIAL, VARIANTS)


def test_every_error_kind_of_every_operator_is_driven():
    """The programs above reach each operator's every error kind."""
    seen = set()
    for _, program in PROGRAMS:
        for bad in SPECIAL:
            for wv in (1.25, 0.0, -1.0, 1e200):
                got = _dynamic(regrad.get_engine("python"), program, wv, [(bad, bad)])
                if got[0] == "error":
                    seen.add(got[2].split(": ")[1].split("(")[0] + " " + got[1].__name__)
    assert seen >= {"Div ZeroDivisionError", "Pow ValueError", "Pow ZeroDivisionError",
                    "Pow OverflowError", "Exp OverflowError", "Log ValueError",
                    "Sqrt ValueError", "Sin ValueError", "Cos ValueError"}, seen


def test_minus_infinity_does_not_cancel_another_failing_lane():
    """isinf() is -1 for -inf in glibc: summed, two bad lanes made zero."""
    for data in ([(math.inf, 2.0), (-math.inf, 2.0)], [(-math.inf, 2.0), (math.inf, 2.0)],
                 [(0.5, 2.0), (0.0, 2.0), (2.0, 2.0)], [(-math.inf, 2.0)] * 3):
        for _, program in PROGRAMS:
            check(program, 1.25, data)
    assert check(lambda w, x, y: x.log().sin() + y, 1.25, [(0.5, 2.0), (0.0, 2.0), (2.0, 2.0)]) == (
        "error", ValueError, "sample 1: Log(0.0): math domain error")
    assert check(lambda w, x, y: x ** 1.5 + y, 1.25, [(1.0, 2.0), (-2.0, 2.0)]) == (
        "error", ValueError, "sample 1: Pow(-2.0, 1.5): math domain error")


def _random_data(rng, n):
    def value():
        return rng.choice(SPECIAL) if rng.random() < 0.15 else rng.uniform(-3, 3)
    return [(value(), value()) for _ in range(n)]


@pytest.mark.parametrize("seed", range(2))
def test_random_batches_with_many_failures(seed):
    """Several failing samples of several kinds, in several blocks, with ±inf
    and NaN among the good ones."""
    rng = random.Random(seed)
    for name, program in PROGRAMS:
        for n in (1, 5, 17):
            check(program, rng.choice([1.25, 1.25, 0.0, -1.0]), _random_data(rng, n))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2, 40))
def test_random_batches_with_many_failures_long(seed):
    test_random_batches_with_many_failures(seed)


# --------------------------------------------------------------- empty batches

@pytest.mark.parametrize("name", ENGINES)
def test_no_rows_give_an_empty_result(name):
    """N = 0, as NumPy sums an empty array: no values, and no gradient added."""
    E = regrad.get_engine(name)
    w = E.Var(0.5, req_grad=True)
    x = E.Var(1.0, req_grad=True)
    wx = w * x
    batch = regrad.compile(wx.exp(), inputs=[x], outputs=[wx], threads=2)
    for data in ([], np.zeros((0, 1)), np.zeros(0), array_d()):
        assert list(batch.forward(data)) == []
        assert len(batch) == 0 and [list(v) for v in batch.output_values] == [[]]
        w.grad = 0.25
        assert batch.backward() is None and w.grad == 0.25
        assert list(batch.backward([], input_grads=True)) == []
        assert list(batch.backward(np.zeros(0), input_grads=True)) == [] and w.grad == 0.25
    assert list(batch.forward([2.0])) == [math.exp(1.0)]


def array_d():
    from array import array
    return array("d")


# ------------------------------------------------------------ threads and sizes

@pytest.mark.parametrize("name", ENGINES)
def test_sizes_beyond_the_limits_are_refused(name):
    E = regrad.get_engine(name)
    w = E.Var(0.5, req_grad=True)
    x = E.Var(1.0, req_grad=True)
    with pytest.raises(ValueError, match="block must be at most 1048576, not 288230376151711744"):
        regrad.compile(w * x, inputs=[x], block=2 ** 58)
    with pytest.raises(ValueError, match="threads must be at most 1024"):
        regrad.compile(w * x, inputs=[x], threads=2 ** 40)
    assert regrad.compile(w * x, inputs=[x], block=2 ** 20).block == 2 ** 20


def _lanes():
    import regrad._lanes as lanes
    return lanes


def _mlp_batch(threads):
    from regrad.apps import moons
    E = regrad.get_engine("cython")
    model = moons.build_model((8, 8), seed=1, engine=E)
    x0, x1, t = E.Var(0.0), E.Var(0.0), E.Var(0.0)
    batch = regrad.compile((1 + t * model([x0, x1])).relu(), inputs=[x0, x1, t],
                           threads=threads, block=8)
    rng = random.Random(4)
    data = np.array([(rng.uniform(-2, 2), rng.uniform(-2, 2), rng.choice((-1.0, 1.0)))
                     for _ in range(203)])
    return batch, model.parameters(), data


def _reference(batch, params, data):
    values = list(batch.forward(data))
    for p in params:
        p.grad = 0.0
    batch.backward(0.5)
    return values, [p.grad for p in params]


def _not_workers():
    """The threads other than the batch tape's workers (kept from call to call)."""
    return {w for w in threading.enumerate() if not w.name.startswith("regrad-lanes-")}


@pytest.fixture
def hook():
    lanes = _lanes()
    yield lambda f: setattr(lanes, "_test_hook", f)
    lanes._test_hook = None


@pytest.mark.parametrize("step,at,error", [("start", 0, RuntimeError), ("start", 1, RuntimeError),
                                           ("start", 2, RuntimeError),
                                           ("wait", 0, KeyboardInterrupt),
                                           ("start", 2, KeyboardInterrupt)])
@pytest.mark.parametrize("call", ["forward", "backward"])
def test_a_thread_that_fails_to_start_or_an_interrupt_stops_every_worker(hook, step, at, error,
                                                                         call):
    batch, params, data = _mlp_batch(threads=4)
    want = _reference(batch, params, data)
    before = _not_workers()

    def fail(what, t):
        if (what, t) == (step, at):
            raise error("can't start new thread" if error is RuntimeError else "")

    for p in params:
        p.grad = 0.0
    hook(fail)
    with pytest.raises(error):
        batch.forward(data) if call == "forward" else batch.backward(0.5)
    hook(None)
    assert _not_workers() == before                   # no thread of the call left
    assert len(threading.enumerate()) - len(before) <= 3  # the workers, kept for next calls
    if call == "forward":                              # cleanly failed
        with pytest.raises(RuntimeError, match="no successful forward"):
            batch.backward()
    else:                                              # nothing added
        assert all(p.grad == 0.0 for p in params)
    assert _reference(batch, params, data) == want      # and usable



# the start of the scripts below: a threaded tape, its data, its numbers
_SETUP = r"""
import random, signal, threading
import numpy as np
import regrad
from regrad.apps import moons

E = regrad.get_engine("cython")
model = moons.build_model(HIDDEN, seed=1, engine=E)
params = model.parameters()
x0, x1, t = E.Var(0.0), E.Var(0.0), E.Var(0.0)
batch = regrad.compile((1 + t * model([x0, x1])).relu(), inputs=[x0, x1, t], threads=THREADS,
                       block=BLOCK)
rng = random.Random(4)
data = np.array([(rng.uniform(-2, 2), rng.uniform(-2, 2), rng.choice((-1.0, 1.0)))
                 for _ in range(ROWS)])

def reference():
    values = list(batch.forward(data))
    for p in params:
        p.grad = 0.0
    batch.backward(0.5)
    return values, [p.grad for p in params]
"""


def _run_script(body, **sizes):
    """Run _SETUP (with these sizes) then ``body`` in a fresh interpreter;
    returns its output."""
    import os
    import subprocess
    import sys
    script = _SETUP
    for name, value in sizes.items():
        script = script.replace(name.upper(), repr(value))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", script + body], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONPATH=root),
                          cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


_INTERRUPTS = r"""
want = reference()
main = threading.main_thread().ident
outcomes = []
for k in range(12):
    call = "forward" if k % 2 == 0 else "backward"
    for p in params:
        p.grad = 0.0
    finished = False
    try:
        timer = threading.Timer(0.005 * (k + 1), signal.pthread_kill, (main, signal.SIGINT))
        timer.start()
        try:
            batch.forward(data) if call == "forward" else batch.backward(0.5)
            finished = True
        finally:
            timer.join()                # the signal is handled inside this try
            sum(range(1000))
    except KeyboardInterrupt:
        pass
    timer.join()                        # if the interrupt cut the first join short
    assert all(w is threading.main_thread() or w.name.startswith("regrad-lanes-")
               for w in threading.enumerate()), threading.enumerate()
    # an interrupt can also come just after the call returned: then it did all its work
    if call == "forward" and not finished:
        finished = len(batch) == len(data)
        if not finished:
            try:
                batch.backward()
                raise AssertionError("backward after an interrupted forward")
            except RuntimeError:
                pass
    elif not finished:
        grads = [p.grad for p in params]
        finished = grads == want[1]
        assert finished or all(g == 0.0 for g in grads), "an interrupted backward added"
    outcomes.append("done" if finished else "interrupted")
    assert reference() == want, "the tape is not usable after an interrupt"
print(outcomes.count("interrupted"), outcomes.count("done"))
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(__import__("signal"), "pthread_kill"), reason="POSIX signals")
def test_ctrl_c_during_a_threaded_call_leaves_the_tape_usable():
    """A real SIGINT while the workers run. The workers' shares hold no GIL,
    so the KeyboardInterrupt mostly comes once the call is done; when it comes
    inside, the call stops its workers and adds nothing. Either way the next
    calls give the same numbers. (The interrupt inside a call is forced in
    test_a_thread_that_fails_to_start_or_an_interrupt_stops_every_worker.)"""
    out = _run_script(_INTERRUPTS, hidden=(16, 16), threads=3, block=None, rows=60000)
    interrupted, done = map(int, out.split())
    assert interrupted + done == 12


_START_FAILURES = r"""
import resource

def address_space():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))

one = regrad.compile((1 + t * model([x0, x1])).relu(), inputs=[x0, x1, t])
want = list(one.forward(data)), None
for p in params:
    p.grad = 0.0
one.backward(0.5)
want = want[0], [p.grad for p in params]
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
failed = 0
for attempt in range(3):      # the workers start when first needed, one per attempt here
    threading.stack_size(256 * 2**20)       # one worker's stack fits, not three
    resource.setrlimit(resource.RLIMIT_AS, (address_space() + 400 * 2**20, hard))
    try:
        batch.forward(data)
    except RuntimeError as e:
        failed += 1
        assert "can't start new thread" in str(e), e
        try:
            batch.backward()
            raise AssertionError("backward after a failed forward")
        except RuntimeError as e:
            assert "no successful forward" in str(e)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        threading.stack_size(0)
    assert all(w is threading.main_thread() or w.name.startswith("regrad-lanes-")
               for w in threading.enumerate()), threading.enumerate()
assert reference() == want
print(failed)
"""


@pytest.mark.slow
@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="Linux")
def test_a_real_thread_start_failure_under_a_memory_limit():
    """Large thread stacks under an address-space limit: a worker cannot start.
    Each call fails with the start's RuntimeError, the workers that started
    stop before it returns, and the tape runs again once the limit is gone."""
    out = _run_script(_START_FAILURES, hidden=(8, 8), threads=4, block=8, rows=8000)
    assert int(out) >= 1, "no start failed: the test tests nothing"


def _run_alone(script):
    """``script`` in a fresh interpreter (a hang there cannot stall the suite)."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=root), cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


_TWO_TAPES_TWO_THREADS = r"""
import os, random, threading, time
import regrad, regrad._messages
from regrad import _lanes
from regrad.apps import moons
regrad._messages.LANES_PER_THREAD = 1
E = regrad.get_engine("cython")

def make():
    model = moons.build_model((8, 8), seed=1, engine=E)
    x0, x1, t = E.Var(0.0), E.Var(0.0), E.Var(0.0)
    b = regrad.compile((1 + t * model([x0, x1])).relu(), inputs=[x0, x1, t], threads=3, block=8)
    rng = random.Random(0)
    b.forward([(rng.uniform(-2, 2), rng.uniform(-2, 2), 1.0) for _ in range(200)])
    return b

A, B = make(), make()

def hook(what, t):                    # the GIL passing to B between A's two shares
    if (what, t) == ("start", 1) and threading.current_thread().name == "A":
        time.sleep(0.2)

_lanes._test_hook = hook
ta = threading.Thread(target=A.backward, name="A", daemon=True)
tb = threading.Thread(target=lambda: (time.sleep(0.05), B.backward()), name="B", daemon=True)
ta.start(); tb.start(); ta.join(20); tb.join(20)
print("hung" if ta.is_alive() or tb.is_alive() else "ok", flush=True)
os._exit(0)
"""


def test_two_tapes_in_two_threads_share_the_workers_without_deadlock():
    """Each call queues its shares at once: the workers meet concurrent calls
    in the same order, so bitwise shares that wait on each other never wait
    behind the other call's."""
    assert _run_alone(_TWO_TAPES_TWO_THREADS) == "ok"


_FORK = r"""
import os, threading, time
import regrad, regrad._messages
from regrad.apps import moons
regrad._messages.LANES_PER_THREAD = 1
E = regrad.get_engine("cython")
model = moons.build_model((4,), seed=1, engine=E)
x0, x1, t = E.Var(0.0), E.Var(0.0), E.Var(0.0)
many = regrad.compile((1 + t * model([x0, x1])).relu(), inputs=[x0, x1, t], threads=200, block=1)
two = regrad.compile((1 + t * model([x0, x1])).relu(), inputs=[x0, x1, t], threads=2, block=1)
data = [(0.1, 0.2, 1.0)] * 400
starting = threading.Thread(target=many.forward, args=(data,))
starting.start()                      # starts 199 workers: a fork meets it midway
time.sleep(0.01)
pid = os.fork()
if pid == 0:
    os._exit(0 if list(two.forward(data)) == list(two.forward(data)) else 1)
for _ in range(300):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("ok" if status == 0 else "failed", flush=True)
        break
    time.sleep(0.1)
else:
    os.kill(pid, 9)
    print("hung", flush=True)
starting.join()
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="POSIX fork")
def test_a_forked_child_starts_its_own_workers():
    assert _run_alone(_FORK) == "ok"
