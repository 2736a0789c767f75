"""regrad: reverse-mode automatic differentiation on scalars, operator by operator.

``from regrad import Var``. Two engines share one API: the compiled one
(``regrad._core``, Cython) and the pure-Python one (``regrad.pure``, the
readable reference). The compiled engine is used unless the environment
variable ``REGRAD_PURE_PYTHON`` is set to a non-empty value other than ``0``,
or the extension cannot be imported (then a warning says so, or, with
``REGRAD_REQUIRE_COMPILED=1``, the import fails: for CI and deployments where
the pure engine by accident would be a silent slowdown).
``regrad.BACKEND`` tells which one is in use: ``"cython"`` or ``"python"``.

Derivatives as functions, on either engine (``regrad.autodiff``): ``grad``
(gradients returned, or built as Vars to differentiate again), ``jvp``
(forward mode), ``hvp`` and ``hessian``, ``gradcheck`` and ``gradgradcheck``.
"""
import os as _os

from . import ops

__version__ = "0.2.0"


def _flag(name):
    return _os.environ.get(name, "") not in ("", "0")


if _flag("REGRAD_PURE_PYTHON"):
    from .pure import Var
    BACKEND = "python"
else:
    try:
        from ._core import Var
        BACKEND = "cython"
    except ImportError as _exc:
        if _flag("REGRAD_REQUIRE_COMPILED"):
            raise ImportError(f"regrad: the compiled engine could not be imported ({_exc}) "
                              "and REGRAD_REQUIRE_COMPILED is set") from _exc
        import warnings as _warnings
        _warnings.warn(
            f"regrad: the compiled engine could not be imported ({_exc}); using the "
            "pure-Python engine (the same results, slower). It is built when regrad is "
            "installed where a C compiler is (see doc/install.md), or from the source tree "
            "by `pip install -e .`; REGRAD_PURE_PYTHON=1 silences this warning.",
            RuntimeWarning, stacklevel=2)
        from .pure import Var
        BACKEND = "python"


def get_engine(name=None):
    """The engine module for ``name``: ``"cython"`` (``regrad._core``) or
    ``"python"`` (``regrad.pure``); ``None`` gives the one in use. Each engine
    module has the same API (``Var``, ...), so both can be used in one process."""
    name = BACKEND if name is None else name
    if name in ("cython", "compiled"):
        from . import _core
        return _core
    if name in ("python", "pure"):
        from . import pure
        return pure
    raise ValueError(f"unknown engine {name!r}: expected 'cython' or 'python'")


def compile(root, retain_graph=False, outputs=(), *, inputs=None, threads=1, block=None,
            bitwise=True):
    """Record the graph under ``root`` (a Var that requires grad) into a
    ``Tape`` that replays it: ``tape.forward()`` recomputes every value from
    the leaves' current ``.val`` and returns the root's, ``tape.backward()``
    adds the gradients into the leaves' ``.grad`` as ``root.backward()`` does,
    ``tape.load(vars, values)`` sets many leaves at once.

    The tape replays the recorded structure, as ``torch.jit.trace`` does:
    Python control flow that depended on values is frozen at record time
    (``relu`` and ``abs`` are operators, evaluated at each replay). Unless
    ``retain_graph=True``, the graph's interior is released as ``backward()``
    releases it. ``outputs``: further Vars of the graph whose ``.val`` each
    ``forward()`` refreshes (e.g. a model's scores next to its loss).
    A compiled Var gives ``regrad._replay.Tape``, a pure one
    ``regrad.replay.Tape``: the same API. See ``regrad.replay``.

    With ``inputs`` (the leaves that hold one sample's values), the graph is
    one sample's and the result a ``BatchTape`` that runs it over many
    samples at once: ``batch.forward(data)`` returns the N outputs,
    ``batch.backward(dy)`` adds the lanes' summed gradients into the shared
    parameters' ``.grad``; ``outputs`` (results of the graph) keep their values
    too, in ``batch.output_values``. ``threads`` splits the lanes across threads (the
    same numbers for any count), ``block`` sets the lanes run together
    (default: chosen from the graph's size). ``bitwise=False`` lets each thread
    add up its own lanes' gradients, the threads' sums added last: faster with
    threads, but the gradients then differ from the dynamic engine's in the
    last bits and depend on the batch size and the number of threads. See
    ``regrad.lanes``.
    """
    from . import pure
    if inputs is not None:
        if isinstance(root, pure.Var):
            from .lanes import BatchTape
        else:
            try:
                from ._lanes import BatchTape
            except ImportError as exc:
                raise ImportError(f"regrad.compile: the compiled batch tape is not built "
                                  f"({exc}); rebuild with `pip install -e .`") from exc
        return BatchTape(root, inputs, retain_graph=retain_graph, outputs=outputs,
                         threads=threads, block=block, bitwise=bitwise)
    if threads != 1 or block is not None or bitwise is not True:
        raise ValueError("regrad.compile: threads, block and bitwise are for a batch tape: "
                         "pass inputs=[...] too")
    if isinstance(root, pure.Var):
        from .replay import Tape
    else:
        try:
            from ._core import Var as _CompiledVar
        except ImportError:
            _CompiledVar = None
        if _CompiledVar is None or type(root) is not _CompiledVar:
            raise TypeError(f"regrad.compile: expected a Var, not {type(root).__name__}")
        try:
            from ._replay import Tape
        except ImportError as exc:
            raise ImportError(f"regrad.compile: the compiled tape is not built ({exc}); "
                              "rebuild with `pip install -e .`") from exc
    return Tape(root, retain_graph=retain_graph, outputs=outputs)


def build_info():
    """How this regrad was built and what runs, for bug reports
    (``python -c "import regrad; print(regrad.build_info())"``): a dict of
    ``version``; ``engine`` (``BACKEND``); ``compiler``, the C compiler of the
    compiled engine; ``simd``, the build of the lane kernels in use
    (``"baseline"``, or ``"avx2"`` where the CPU has it: the same bits) and
    ``simd_available``, those this CPU can run (set ``REGRAD_SIMD`` at import
    to choose); the last three None without the compiled engine; ``python``
    and ``platform``."""
    import platform
    import sys
    info = {"version": __version__, "engine": BACKEND, "compiler": None, "simd": None,
            "simd_available": None, "python": sys.version.split()[0],
            "platform": f"{platform.system()} {platform.machine()}"}
    if BACKEND == "cython":
        from . import _lanes
        info.update(compiler=_lanes.COMPILER, simd=_lanes.simd(),
                    simd_available=_lanes.simd_variants())
    return info


def release_memory():
    """Give back to the system the memory the compiled engine keeps for reuse.

    The compiled engine keeps the memory of freed nodes for the next graph
    (up to 64 MiB, see ``set_pool_limit``; memory left unused for 10 seconds
    is given back as other nodes are freed). Call this after a large graph,
    before a long pause. Returns the number of bytes given back (0 when the
    compiled engine was never imported: the pure engine keeps nothing)."""
    import sys
    core = sys.modules.get("regrad._core")
    return 0 if core is None else core.release_memory()


def set_pool_limit(nbytes):
    """Keep at most ``nbytes`` of freed node memory for reuse in the compiled
    engine (64 MiB to begin with); returns the old limit. Without the
    compiled engine this does nothing and returns 0."""
    import sys
    core = sys.modules.get("regrad._core")
    return 0 if core is None else core.set_pool_limit(nbytes)


from .autodiff import (grad, jvp, hvp, hessian, gradcheck, gradgradcheck,  # noqa: E402
                       GradcheckError)
from .function import Function  # noqa: E402

__all__ = ["Var", "BACKEND", "get_engine", "ops", "compile", "build_info", "release_memory",
           "set_pool_limit", "grad", "jvp", "hvp", "hessian", "gradcheck", "gradgradcheck",
           "GradcheckError", "Function"]
