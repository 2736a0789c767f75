"""Installs as a learner's machine would see them, each in a fresh virtual
environment from a copy of the sources (git's files only), with pip's build
isolation (setuptools and Cython from the package index): without a C
compiler the install still succeeds with the pure engine (and fails with
REGRAD_REQUIRE_COMPILED=1); the pure py3-none-any wheel installs and runs
where no compiler is on PATH, on every Python found here. Slow: builds."""
import glob
import os
import shutil
import subprocess
import sys
import venv
import zipfile

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INFO = "import regrad; i = regrad.build_info(); print(i['engine'], i['simd'])"
MOONS = ["-m", "regrad", "moons", "--epochs", "2", "--samples", "20", "--no-picture"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The project's files as a clean checkout has them (no build products)."""
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                               check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs the git checkout of the sources")
    dest = tmp_path_factory.mktemp("src")
    for name in filter(None, files):
        if os.path.exists(os.path.join(ROOT, name)):
            os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), os.path.join(dest, name))
    return dest


def make_venv(path, python=sys.executable):
    subprocess.run([python, "-m", "venv", str(path)], check=True, capture_output=True)
    return os.path.join(path, "bin", "python")


def no_compiler_env(venv_python):
    """PATH with the environment's own scripts only, and no C compiler to find
    (pip's own settings, such as its index, are kept)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REGRAD_", "PYTHON", "CC", "CFLAGS", "LDSHARED"))}
    env.update(PATH=os.path.dirname(venv_python), CC="/bin/false", LDSHARED="/bin/false",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def run(args, env, cwd):
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)


def test_without_a_compiler_pip_install_falls_back_to_the_pure_engine(sources, tmp_path):
    py = make_venv(tmp_path / "env")
    env = no_compiler_env(py)
    install = [py, "-m", "pip", "install", "--no-deps", "-v", "."]
    required = run(install, dict(env, REGRAD_REQUIRE_COMPILED="1"), sources)
    assert required.returncode != 0
    assert "/bin/false" in required.stdout + required.stderr     # the compiler it could not run
    assert "regrad installs WITHOUT" not in required.stdout + required.stderr
    done = run(install, env, sources)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "regrad installs WITHOUT its compiled engine" in done.stdout + done.stderr
    out = run([py, "-c", INFO], env, tmp_path)
    assert out.stdout.split() == ["python", "None"], out.stderr
    assert "compiled engine could not be imported" in out.stderr


def pythons():
    """This Python, and the other CPython 3.9+ that pyenv holds here."""
    found = [sys.executable]
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for exe in sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3"))):
        minor = os.path.basename(os.path.dirname(os.path.dirname(exe))).split(".")[1]
        if minor.isdigit() and int(minor) >= 9 and os.path.realpath(exe) != os.path.realpath(
                sys.executable):
            found.append(exe)
    return found


def test_the_pure_wheel_installs_and_runs_without_a_compiler(sources, tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "dist"), "."],
        cwd=sources, capture_output=True, text=True, env=dict(os.environ, REGRAD_PURE_PYTHON="1"))
    assert built.returncode == 0, built.stderr
    (wheel,) = glob.glob(str(tmp_path / "dist" / "*.whl"))
    assert wheel.endswith("-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "regrad/pure.py" in names and "regrad/apps/moons.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".c"))]
    for i, python in enumerate(pythons()):
        py = make_venv(tmp_path / f"env{i}", python=python)
        env = no_compiler_env(py)
        done = run([py, "-m", "pip", "install", "--no-deps", "--no-index", wheel], env, tmp_path)
        assert done.returncode == 0, (python, done.stderr)
        out = run([py, "-c", INFO], dict(env, REGRAD_PURE_PYTHON="1"), tmp_path)
        assert out.stdout.split() == ["python", "None"], (python, out.stderr)
        job = run([py, *MOONS], dict(env, REGRAD_PURE_PYTHON="1"), tmp_path)
        assert job.returncode == 0 and "accuracy" in job.stdout.lower(), (python, job.stderr)
