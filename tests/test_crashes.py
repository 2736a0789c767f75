"""Python code that calls back into the extension while it works must get an
exception or a correct result, never a crash: ``Tape.load`` converting values
whose ``__float__`` changes the caller's lists, ``Tape.__init__`` re-entered
from the iteration of ``outputs``, and the rebuilding of pickled graphs from
malformed records.

Each case runs in a fresh subprocess that must exit cleanly and print what it
saw, so that a crash fails one test instead of killing the run. The pure tape
is held to the same outcome (it copies both lists first, and records once).
"""
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_clean(engine, code):
    """Run ``code`` with ``Var`` and ``Tape`` of ``engine``; return its stdout
    after checking that it exited with status 0."""
    prelude = textwrap.dedent(f"""
        import gc, regrad
        engine = regrad.get_engine({engine!r})
        Var = engine.Var
        if {engine!r} == "cython":
            from regrad._replay import Tape
        else:
            from regrad.replay import Tape
    """)
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c",
                           prelude + textwrap.dedent(code)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, (
        f"exit status {proc.returncode} (negative: killed by that signal)\n{proc.stderr[-3000:]}")
    return proc.stdout


ENGINES = ["cython", "python"]

# What each Evil.__float__ does to the lists load() was given.
MUTATIONS = {
    "swap a var for a list": "vs[0] = target",
    "swap a var for a float": "vs[0] = 1.5",
    "clear the vars": "vs.clear()",
    "clear the values": "xs.clear()",
    "clear both and collect": "vs.clear(); xs.clear(); gc.collect()",
    "swap a value for a str": "xs[1] = 'boom'",
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mutation", list(MUTATIONS), ids=list(MUTATIONS))
def test_load_with_a_float_that_changes_the_lists(engine, mutation):
    out = run_clean(engine, f"""
        w = Var(2.0, req_grad=True); x = Var(3.0); z = Var(4.0)
        tape = regrad.compile(w * x + z * w)
        target = [1, 2, 3]
        class Evil(float):
            def __float__(self):
                {MUTATIONS[mutation]}
                return 1e300
        vs = [x, z]
        xs = [Evil(1.0), 7.0]
        tape.load(vs, xs)
        # the lists as they were when load() was called: every value set
        assert target == [1, 2, 3], target
        print(x.val, z.val, tape.forward())
        gc.collect()
        print("ok")
    """)
    x, z, value, ok = out.split()
    assert ok == "ok" and (float(x), float(z)) == (1e300, 7.0)
    assert float(value) == 2.0 * 1e300 + 7.0 * 2.0


@pytest.mark.parametrize("engine", ENGINES)
def test_load_with_a_float_that_fails_sets_nothing(engine):
    out = run_clean(engine, """
        w = Var(2.0, req_grad=True); x = Var(3.0); z = Var(4.0)
        tape = regrad.compile(w * x + z * w)
        vs = [x, z]
        class Evil(float):
            def __float__(self):
                vs.clear()
                raise ArithmeticError("no")
        try:
            tape.load(vs, [5.0, Evil(1.0)])
        except ArithmeticError:
            print(x.val, z.val)       # checked and converted first: nothing set
    """)
    assert out.split() == ["3.0", "4.0"]


@pytest.mark.parametrize("engine", ENGINES)
def test_load_from_a_generator_that_records_the_tape_again(engine):
    out = run_clean(engine, """
        w = Var(2.0, req_grad=True); x = Var(3.0)
        tape = regrad.compile(w * x)
        def values():
            try:
                tape.__init__((w + 1.0) * (w * w * w))
            except RuntimeError as e:
                print("refused:", e)
            yield 5.0
        tape.load([x], values())
        print(x.val, tape.forward(), tape.size)
    """)
    assert "refused: a Tape is recorded once" in out
    assert out.splitlines()[-1].split() == ["5.0", "10.0", "3"]


@pytest.mark.parametrize("engine", ENGINES)
def test_tape_init_reentered_from_outputs(engine):
    out = run_clean(engine, """
        w = Var(2.0, req_grad=True)
        small = w * 3.0
        big = (w + 1.0) * (w * w) + (w.exp() * w - w).tanh()
        tape = Tape.__new__(Tape)
        def outputs():
            tape.__init__(big, retain_graph=True)    # the other graph, from inside
            yield small
        try:
            tape.__init__(small, retain_graph=True, outputs=outputs())
        except RuntimeError as e:
            print("refused:", e)
        for call in (tape.forward, tape.backward):
            try:
                call()
            except (RuntimeError, AttributeError) as e:
                print(type(e).__name__)
        tape2 = regrad.compile(big)                  # the graph is still whole
        print(tape2.forward() == big.val)
    """)
    lines = out.splitlines()
    assert lines[0] == "refused: a Tape is recorded once"
    assert lines[-1] == "True"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_recorded_tape_refuses_a_second_recording(engine):
    out = run_clean(engine, """
        w = Var(2.0, req_grad=True)
        tape = regrad.compile(w * 3.0)
        try:
            tape.__init__(w * w * w)
        except RuntimeError as e:
            print(e)
        print(tape.forward(), tape.size)
    """)
    assert out.split("\n")[:2] == ["a Tape is recorded once", "6.0 3"]


MALFORMED = [                                      # (leaves, ops, vals, inputs, powers, labels)
    "(x,), ('Mul',), (1.0,), (0, 5), (), {}",         # an input past the nodes made
    "(x,), ('Mul',), (1.0,), (0, 1), (), {}",         # an input that is itself
    "(x,), ('Mul',), (1.0,), (0,), (), {}",           # one input for two
    "(x,), ('Mul',), (1.0,), (0, -2), (), {}",
    "(x,), ('Mul',), (1.0,), (0, -1), (), {}",        # half released
    "(x,), ('Mul',), (1.0,), (0, True), (), {}",
    "(x,), ('Mul',), (1.0,), (0, 0, 0), (), {}",      # inputs left over
    "(x,), ('Nope',), (1.0,), (0,), (), {}",
    "(x,), ('Pow',), (1.0,), (0,), ('two',), {}",
    "(x,), ('Pow',), (1.0,), (0,), (), {}",           # no exponent
    "(x,), ('Exp',), (1.0,), (0,), (2.0,), {}",       # an exponent left over
    "(x,), ('Exp',), ('one',), (0,), (), {}",
    "(x,), ('Exp',), (1.0,), (0,), (), {0: 5}",
    "(1.0,), ('Exp',), (1.0,), (0,), (), {}",
    "(x,), (), (), (), (), {}",
    "(x,), ('Exp', 'Exp'), (1.0,), (0, 1), (), {}",
    "(x,), ('Exp',), (1.0,), None, (), {}",
]


@pytest.mark.parametrize("engine", ENGINES)
def test_malformed_pickled_graphs_raise(engine):
    out = run_clean(engine, f"""
        x = Var(2.0, req_grad=True)
        for args in [{", ".join(f"lambda: ({m})" for m in MALFORMED)}]:
            try:
                engine._graph(*args())
                print("built")
            except (TypeError, ValueError) as e:
                print(type(e).__name__)
        y = engine._graph((x,), ("Mul", "Pow"), (4.0, 16.0), (0, 0, 1), (2.0,), {{1: "sq"}})
        y.backward()
        print(y.val, x.grad, y.label)
    """)
    lines = out.splitlines()
    assert len(lines) == len(MALFORMED) + 1 and set(lines[:-1]) <= {"TypeError", "ValueError"}
    assert lines[-1] == "16.0 32.0 sq"          # d(x*x)**2/dx = 4 x**3


@pytest.mark.parametrize("engine", ENGINES)
def test_labelled_vars_alive_at_exit(engine):
    """Labels live in a table of the compiled module: Vars still holding one
    when the interpreter shuts down (globals, a reference cycle) end cleanly."""
    out = run_clean(engine, """
        from regrad.nn import MLP
        keep = [Var(float(i), label=f"x{i}") for i in range(100)]
        model = MLP(2, [3, 1], engine=engine)
        class Cycle:
            pass
        c = Cycle(); c.self = c; c.v = Var(1.0, label="in a cycle"); c.r = c.v * 2.0
        c.r.label = "r"
        import atexit
        atexit.register(lambda: print("exiting", keep[5].label, c.r.label))
    """)
    assert out.strip() == "exiting x5 r"
