"""Declares the compiled engine; all metadata lives in pyproject.toml."""
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [Extension("regrad._core", ["regrad/_core.pyx"], extra_compile_args=["-O2"]),
              Extension("regrad._replay", ["regrad/_replay.pyx"], extra_compile_args=["-O2"]),
              # no fused multiply-add: the optimizers give the pure loops' bits
              Extension("regrad._optim", ["regrad/_optim.pyx"],
                        extra_compile_args=["-O2", "-ffp-contract=off"])]

setup(ext_modules=cythonize(extensions, language_level=3))
