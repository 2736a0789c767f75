"""regrad: reverse-mode automatic differentiation on scalars, operator by operator.

``from regrad import Var``. Two engines share one API: the compiled one
(``regrad._core``, Cython) and the pure-Python one (``regrad.pure``, the
readable reference). The compiled engine is used unless the environment
variable ``REGRAD_PURE_PYTHON`` is set to a non-empty value other than ``0``,
or the extension cannot be imported (then a warning says so).
``regrad.BACKEND`` tells which one is in use: ``"cython"`` or ``"python"``.
"""
import os as _os

from . import ops

__version__ = "0.2.0"


def _want_pure():
    return _os.environ.get("REGRAD_PURE_PYTHON", "") not in ("", "0")


if _want_pure():
    from .pure import Var
    BACKEND = "python"
else:
    try:
        from ._core import Var
        BACKEND = "cython"
    except ImportError as _exc:
        import warnings as _warnings
        _warnings.warn(
            f"regrad: the compiled engine could not be imported ({_exc}); using the "
            "pure-Python engine. Build it with `pip install .` (or "
            "`python setup.py build_ext --inplace`), or set REGRAD_PURE_PYTHON=1 "
            "to silence this warning.", RuntimeWarning, stacklevel=2)
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


__all__ = ["Var", "BACKEND", "get_engine", "ops"]
