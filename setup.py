"""Declares the compiled extensions; all metadata lives in pyproject.toml.

REGRAD_PURE_PYTHON=1 at build time builds no extension (the package then runs
its pure-Python engine), as it selects that engine at import time."""
import os

from setuptools import Extension, setup

if os.environ.get("REGRAD_PURE_PYTHON", "") not in ("", "0"):
    ext_modules = []
else:
    from Cython.Build import cythonize
    ext_modules = cythonize([Extension("regrad._core", ["regrad/_core.pyx"]),
                             Extension("regrad._replay", ["regrad/_replay.pyx"])],
                            language_level=3)

setup(ext_modules=ext_modules)
