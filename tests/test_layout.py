"""The package's shape: the library never imports its applications or the seed's
``tools`` alias, the alias gives the library's own objects, nothing imports in a
cycle, and ``python -m regrad`` runs from a folder that has a ``tools`` of its own."""
import ast
import os
import subprocess
import sys

import regrad

PACKAGE = os.path.dirname(os.path.abspath(regrad.__file__))


def _imports(path, package):
    """The absolute names of the modules ``path`` imports (relative ones resolved)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
                names.update(f"{base}.{a.name}" for a in node.names)   # maybe submodules
            names.add(base)
    return names


def _modules():
    """``{module name: imported names}`` for every .py/.pyx/.pxd file of regrad."""
    out = {}
    for folder, _, files in os.walk(PACKAGE):
        for f in files:
            stem, ext = os.path.splitext(f)
            if ext not in (".py", ".pyx") or "__pycache__" in folder:
                continue
            rel = os.path.relpath(os.path.join(folder, stem), os.path.dirname(PACKAGE))
            name = rel.replace(os.sep, ".").removesuffix(".__init__")
            package = name if stem == "__init__" else name.rsplit(".", 1)[0]
            if ext == ".pyx":   # cimports and Python imports alike
                src = open(os.path.join(folder, f), encoding="utf-8").read()
                names = {line.split()[1] for line in src.splitlines()
                         if line.startswith(("from ", "import ", "cimport "))}
                out[name] = {f"{package}{n}" if n.startswith(".") else n for n in names}
            else:
                out[name] = _imports(os.path.join(folder, f), package)
    return out


def test_the_library_never_imports_the_applications_or_tools():
    for name, imported in _modules().items():
        if name == "regrad.__main__" or name.startswith("regrad.apps"):
            continue
        bad = {m for m in imported if m == "tools" or m.startswith(("tools.", "regrad.apps"))}
        assert not bad, (name, bad)


def test_no_import_cycles_among_the_modules():
    graph = _modules()
    edges = {m: {i for i in imported if i in graph and i != m} for m, imported in graph.items()}
    # a package's __init__ importing its own submodules is not a cycle of modules
    for m in edges:
        edges[m] = {i for i in edges[m] if not i.startswith(m + ".")}
    state = {}
    for start in edges:
        stack = [(start, iter(edges[start]))]
        state[start] = "open"
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = "done"
                stack.pop()
            elif state.get(child) == "open":
                raise AssertionError(f"import cycle through {child} and {node}")
            elif child not in state:
                state[child] = "open"
                stack.append((child, iter(edges[child])))


def test_the_seed_import_path_gives_the_same_objects():
    import tools
    import tools.nn
    from regrad import draw, nn
    assert tools.nn.MLP is nn.MLP and tools.nn.Neuron is nn.Neuron and tools.nn.Layer is nn.Layer
    for name in ("Drawing", "draw", "draw_to_html", "build_svg", "build_dot",
                 "build_mermaid_script"):
        assert getattr(tools, name) is getattr(draw, name)


def test_the_job_runs_from_a_folder_with_its_own_tools_package(tmp_path):
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "__init__.py").write_text("raise ImportError('the user's own tools')\n")
    # the regrad under test, found after the folder (sys.path[0]), as an install would be
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(regrad.__file__)))
    proc = subprocess.run([sys.executable, "-m", "regrad", "moons", "--epochs", "2",
                           "--samples", "10", "--no-picture"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "final accuracy" in proc.stdout
