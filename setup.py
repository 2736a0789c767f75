"""Declares the compiled extensions; all metadata lives in pyproject.toml.

REGRAD_PURE_PYTHON=1 at build time builds no extension (the package then runs
its pure-Python engine), as it selects that engine at import time."""
import os

from setuptools import Extension, setup

# -ffp-contract=off: never fuse a*b + c into one FMA (a CFLAGS such as -march=native
# would), so the kernels give the pure engine's bits
_NO_FMA = ["-ffp-contract=off"]

if os.environ.get("REGRAD_PURE_PYTHON", "") not in ("", "0"):
    ext_modules = []
else:
    from Cython.Build import cythonize
    ext_modules = cythonize(
        [Extension(f"regrad.{name}", [f"regrad/{name}.pyx"], depends=depends,
                   extra_compile_args=_NO_FMA)
         for name, depends in (("_core", ["regrad/_pool.h"]), ("_replay", []), ("_optim", []))]
        # -O3 vectorizes the lane loops
        + [Extension("regrad._lanes", ["regrad/_lanes.pyx"], depends=["regrad/_lanes.h"],
                     extra_compile_args=["-O3"] + _NO_FMA)],
        language_level=3)

setup(ext_modules=ext_modules)
