"""Declares the compiled extensions; all metadata lives in pyproject.toml.

The extensions are optional: where they cannot be built (no C compiler, a
compile error, no Cython) the package installs with its pure-Python engine
and the build says so, unless REGRAD_REQUIRE_COMPILED=1, which makes that an
error. REGRAD_PURE_PYTHON=1 builds no extension (a py3-none-any wheel), as it
selects the pure engine at import time. See doc/install.md."""
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError


def _flag(name):
    return os.environ.get(name, "") not in ("", "0")


PURE = _flag("REGRAD_PURE_PYTHON")
REQUIRED = _flag("REGRAD_REQUIRE_COMPILED")

# Per compiler family: optimize (the lane loops vectorize at -O3), and never fuse
# a*b + c into one FMA, so that the kernels give the pure engine's bits (GCC fuses
# where FMA is enabled, clang >= 14 by default; MSVC 2022 only with /fp:contract);
# an operator of regrad/_opcodes.h without its functions in _opdefs.h stops the
# build (older compilers only warn of a call to an undeclared function); no debug
# symbols in what ships.
COMPILE = {"unix": ["-O3", "-ffp-contract=off", "-Werror=implicit-function-declaration", "-g0"],
           "msvc": ["/O2", "/fp:precise", "/we4013"]}
LINK = {"unix": ["-s"] if sys.platform.startswith("linux") else [], "msvc": []}
# the second build of the lane kernels (regrad/_lanes_avx2.c), x86-64 only: AVX2, no FMA
AVX2 = {"unix": ["-mavx2", "-mno-fma"], "msvc": ["/arch:AVX2"]}
# the headers every operator kernel is built from (cythonize adds by itself each
# module's cimported .pxd files and the headers those name)
KERNELS = ["regrad/_opcodes.h", "regrad/_opdefs.h"]


def _warn(message):
    bar = "*" * 78
    sys.stderr.write(f"\n{bar}\n{message}\n{bar}\n\n")


def _fall_back(what, exc):
    """Called while handling exc: without REGRAD_REQUIRE_COMPILED, a failed
    build leaves the pure engine; with it, the build fails."""
    if REQUIRED:
        raise exc
    _warn(f"regrad: {what} ({exc}).\n"
          "regrad installs WITHOUT its compiled engine: the pure-Python engine gives the\n"
          "same results, many times slower. For the compiled one, install a C compiler\n"
          "(see doc/install.md) and reinstall; REGRAD_REQUIRE_COMPILED=1 makes this an error.")


class optional_build_ext(build_ext):
    """Builds every extension or none, with each compiler's flags."""

    def run(self):
        try:
            super().run()
        except (CCompilerError, ExecError, PlatformError) as exc:
            for ext in self.extensions:      # a partial build would mix the engines
                for path in (self.get_ext_fullpath(ext.name),
                             os.path.join(self.build_lib, self.get_ext_filename(ext.name))):
                    if os.path.exists(path):
                        os.remove(path)
            _fall_back("the C extensions could not be built", exc)

    def build_extension(self, ext):
        family = "msvc" if self.compiler.compiler_type == "msvc" else "unix"
        ext.extra_compile_args = COMPILE[family]
        ext.extra_link_args = LINK[family]
        if ext.name == "regrad._lanes" and self.plat_name.lower().endswith(("x86_64", "amd64")):
            self._add_avx2_kernels(ext, family)
        super().build_extension(ext)

    def _add_avx2_kernels(self, ext, family):
        try:
            objects = self.compiler.compile(
                ["regrad/_lanes_avx2.c"], output_dir=self.build_temp,
                include_dirs=ext.include_dirs, extra_postargs=COMPILE[family] + AVX2[family],
                depends=["regrad/_lanes.h"] + KERNELS)
        except CCompilerError as exc:      # e.g. a universal2 build (-mavx2 on arm64)
            _warn(f"regrad: no AVX2 build of the lane kernels ({exc}); the baseline one only")
            return
        ext.extra_objects = list(ext.extra_objects) + objects
        ext.define_macros = list(ext.define_macros) + [("REGRAD_LANES_AVX2", "1")]


def extensions():
    if PURE:
        return []
    try:
        from Cython.Build import cythonize
        from Cython.Compiler.Errors import CompileError
    except ImportError as exc:
        _fall_back("Cython is not installed", exc)
        return []
    try:
        return cythonize(
            [Extension(f"regrad.{name}", [f"regrad/{name}.pyx"], depends=depends)
             for name, depends in (("_core", ["regrad/_pool.h"] + KERNELS), ("_replay", KERNELS),
                                   ("_optim", ["regrad/_opcodes.h"]),
                                   ("_lanes", ["regrad/_lanes.h", "regrad/_lanes_simd.h"]
                                    + KERNELS))],
            language_level=3)
    except CompileError as exc:
        _fall_back("Cython could not translate the extensions", exc)
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": optional_build_ext})
