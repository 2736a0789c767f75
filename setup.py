"""Declares the compiled engine; all metadata lives in pyproject.toml."""
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [Extension("regrad._core", ["regrad/_core.pyx"], extra_compile_args=["-O2"]),
              Extension("regrad._replay", ["regrad/_replay.pyx"], extra_compile_args=["-O2"]),
              # -O3 vectorizes the lane loops; no FMA contraction: the dynamic engine's bits
              Extension("regrad._lanes", ["regrad/_lanes.pyx"], depends=["regrad/_lanes.h"],
                        extra_compile_args=["-O3", "-ffp-contract=off"])]

setup(ext_modules=cythonize(extensions, language_level=3))
