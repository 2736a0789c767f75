"""The machine and the software a report ran on, and its load."""
import os
import platform
import subprocess


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _memory():
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return None


def _git_version():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.exists(os.path.join(here, ".git")):
        return None
    try:
        out = subprocess.run(["git", "-C", here, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _version(module):
    try:
        mod = __import__(module)
    except ImportError:
        return None
    v = getattr(mod, "__version__", None)
    if v is None:
        try:
            from importlib.metadata import version
            v = version(module)
        except Exception:
            v = "?"
    return str(v)


def machine_description():
    """One line on the machine (CPU, cores, memory, OS, Python) and one on the
    software (regrad and its git revision, the contenders' libraries)."""
    from regrad import __version__
    hw = [_cpu_model(), f"{os.cpu_count()} cores"]
    mem = _memory()
    if mem:
        hw.append(mem)
    hw.append(f"{platform.system()} {platform.release()} {platform.machine()}")
    hw.append(f"{platform.python_implementation()} {platform.python_version()}")
    git = _git_version()
    sw = [f"regrad {__version__}" + (f" (git {git})" if git else "")]
    for name in ("micrograd", "torch", "Cython"):
        v = _version(name)
        if v:
            sw.append(f"{name} {v}")
    return ", ".join(hw), ", ".join(sw)


def _load():
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None
