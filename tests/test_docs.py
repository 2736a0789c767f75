"""The documents: README.md, README_zh.md, CONTRIBUTING.md and doc/. Every
Python block of README.md, README_zh.md and doc/*.md runs, on both engines,
and prints what its comments say; quotes of the source still match it; the
generated parts (doc/ops.md, the autograd pictures, the performance tables)
are what their scripts write; links inside the repository resolve."""
import glob
import importlib
import importlib.util
import os

import pytest

from regrad import ops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _script(name):
    path = os.path.join(ROOT, "doc", name)
    spec = importlib.util.spec_from_file_location("_regrad_doc_" + name[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_what_make_ops_writes_is_up_to_date():
    """doc/ops.md and its drawings, and the op codes in C, Cython and the stubs."""
    files = _script("make_ops.py").render()
    for rel, text in files.items():
        path = os.path.join(ROOT, rel)
        assert os.path.exists(path), f"{rel} is missing: run python doc/make_ops.py"
        with open(path, encoding="utf-8") as f:
            assert f.read() == text, f"{rel} is stale: run python doc/make_ops.py"
    # and nothing left over from an operator that is gone
    drawn = {f"doc/ops/{name}" for name in os.listdir(os.path.join(ROOT, "doc", "ops"))}
    assert drawn == {rel for rel in files if rel.startswith("doc/ops/")}


def test_ops_md_lists_every_operator_with_its_table_entries():
    text = open(os.path.join(ROOT, "doc", "ops.md"), encoding="utf-8").read()
    for op in ops.OPS:
        section = text.split(f"\n## {op.name}\n", 1)[1].split("\n## ", 1)[0]
        assert f"op code {op.code}" in section
        assert f"- value: `{op.formula}`" in section
        assert f"- domain: {op.domain}" in section
        for d in op.derivatives:
            assert f"`{d}`" in section
        assert "def forward(" in section and "def backward(" in section
        assert f"![{op.name} at " in section and f"(ops/{op.name}.svg)" in section


# ------------------------------------------------- the docs' code, run and quoted

import inspect  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import regrad  # noqa: E402

DOCS = ["README.md", "README_zh.md"] + sorted(
    os.path.relpath(p, ROOT).replace(os.sep, "/") for p in glob.glob(os.path.join(ROOT, "doc", "*.md")))
#: pages whose blocks must check at least three printed lines
TEACHING = {"README.md", "README_zh.md", "doc/autograd.md", "doc/build-your-own.md"}
QUOTE = re.compile(r"# (regrad/[\w/]+\.py), ([\w.]+)$")
EXPECT = re.compile(r"#\s*(?:prints|输出)\s+(.*?)\s*$")
MARK = "----- block {} -----"


def blocks(rel):
    text = open(os.path.join(ROOT, rel), encoding="utf-8").read()
    return re.findall(r"^```python\n(.*?)^```$", text, re.S | re.M)


def runnable(rel):
    return [b for b in blocks(rel) if not QUOTE.match(b.split("\n", 1)[0])]


@pytest.mark.parametrize("engine_name", ["cython", "python"])
@pytest.mark.parametrize("rel", [rel for rel in DOCS if runnable(rel)])
def test_doc_snippets_run_and_print_what_they_say(tmp_path, rel, engine_name):
    regrad.get_engine(engine_name)      # the compiled engine must be built
    code = runnable(rel)
    # one process per document: the blocks run in order in one namespace, as a
    # reader running them one after the other would
    driver = ["import sys", "ns = {'__name__': '__main__'}"]
    for i, src in enumerate(code):
        driver.append(f"print({MARK.format(i)!r}, flush=True)")
        driver.append(f"exec(compile({src!r}, {rel + ' block ' + str(i)!r}, 'exec'), ns)")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("REGRAD_PURE_PYTHON", None)
    if engine_name == "python":
        env["REGRAD_PURE_PYTHON"] = "1"
    r = subprocess.run([sys.executable, "-c", "\n".join(driver)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Warning" not in r.stderr, r.stderr
    outputs = re.split(r"^----- block \d+ -----\n", r.stdout, flags=re.M)[1:]
    assert len(outputs) == len(code)
    checked = 0
    for src, out in zip(code, outputs):
        expected = [m.group(1) for line in src.splitlines() for m in [EXPECT.search(line)] if m]
        if expected:
            assert out.splitlines() == expected, src
            checked += len(expected)
    if rel in TEACHING:
        assert checked >= 3


@pytest.mark.parametrize("rel", DOCS)
def test_doc_quotes_match_the_source(rel):
    quotes = [b for b in blocks(rel) if QUOTE.match(b.split("\n", 1)[0])]
    for block in quotes:
        path, name = QUOTE.match(block.split("\n", 1)[0]).groups()
        module = importlib.import_module(path[:-3].replace("/", "."))
        obj = module
        for part in name.split("."):
            obj = getattr(obj, part)
        source = [line.strip() for line in inspect.getsource(obj).splitlines()]
        quoted = [line.strip() for line in block.splitlines()[1:]]
        # the quote is one contiguous run of the function's lines
        n = len(quoted)
        assert any(source[k:k + n] == quoted for k in range(len(source) - n + 1)), \
            f"{rel}: the quote of {path} {name} no longer matches the source"


def test_autograd_md_pictures_and_table_are_what_the_script_draws():
    make = _script("make_autograd.py")
    for rel, text in make.render().items():
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            assert f.read() == text, f"{rel} is stale: run python doc/make_autograd.py"
    doc = open(os.path.join(ROOT, "doc", "autograd.md"), encoding="utf-8").read()
    table = make.readme().table()
    assert "\n" + table + "\n" in doc
    for picture in re.findall(r"\]\((autograd/[\w.-]+)\)", doc):
        assert os.path.exists(os.path.join(ROOT, "doc", picture)), picture


def test_higher_order_md_pictures_are_what_the_script_draws():
    for rel, text in _script("make_higher_order.py").render().items():
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            assert f.read() == text, f"{rel} is stale: run python doc/make_higher_order.py"
    doc = open(os.path.join(ROOT, "doc", "higher-order.md"), encoding="utf-8").read()
    pictures = re.findall(r"\]\((higher-order/[\w.-]+)\)", doc)
    assert pictures == ["higher-order/x-cubed-d1.svg", "higher-order/x-cubed-d2.svg"]


def test_readme_links_the_docs():
    top = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read().split("\n## ", 1)[0]
    for link in ("doc/autograd.md", "doc/ops.md", "README_zh.md"):
        assert f"]({link})" in top
    zh = open(os.path.join(ROOT, "README_zh.md"), encoding="utf-8").read()
    assert "](README.md)" in zh


def test_teaching_pages_have_code():
    for rel in TEACHING:
        assert len(runnable(rel)) >= 2, rel


# ------------------------------------------------------------------ the README


def test_readme_is_short_and_trains_a_network_in_its_first_third():
    lines = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read().splitlines()
    assert len(lines) <= 250
    train = next(i for i, line in enumerate(lines) if line.startswith("## Train"))
    assert train < len(lines) / 3


def test_readme_and_readme_zh_have_the_same_commands_and_code():
    def fenced(rel):
        text = open(os.path.join(ROOT, rel), encoding="utf-8").read()
        return [re.sub(r"\s*#.*$", "", line, flags=re.M).rstrip()
                for block in re.findall(r"^```\w*\n(.*?)^```$", text, re.S | re.M)
                for line in block.splitlines()]
    assert fenced("README.md") == fenced("README_zh.md")
    headings = [len(re.findall(r"^## ", open(os.path.join(ROOT, rel), encoding="utf-8").read(),
                               re.M)) for rel in ("README.md", "README_zh.md")]
    assert headings[0] == headings[1]


def test_readmes_name_tools_only_as_the_compatibility_path():
    for rel, word in (("README.md", "compatibility"), ("README_zh.md", "兼容")):
        text = open(os.path.join(ROOT, rel), encoding="utf-8").read()
        paragraphs = [p for p in text.split("\n\n") if "tools" in p]
        assert len(paragraphs) == 1 and word in paragraphs[0], rel


def test_ci_runs_the_readme_test_command():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    commands = [b.strip() for b in re.findall(r"^```bash\n(.*?)^```$", readme, re.S | re.M)]
    test_command = next(c for c in commands if "pytest" in c)
    assert "\n" not in test_command and "python -m regrad moons" in "\n".join(commands)
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    assert test_command in ci.splitlines()


def test_performance_tables_are_what_the_script_writes():
    for rel, text in _script("make_performance.py").render().items():
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            assert f.read() == text, f"{rel} is stale: run python doc/make_performance.py"


# ------------------------------------------------------------------ links

LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading):
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path):
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M)
    return {_slug(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}


LINKED = ["README.md", "README_zh.md", "CONTRIBUTING.md"] + [d for d in DOCS if d.startswith("doc/")]


@pytest.mark.parametrize("rel", LINKED)
def test_links_inside_the_repository_resolve(rel):
    text = open(os.path.join(ROOT, rel), encoding="utf-8").read()
    text = re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M)
    base = os.path.dirname(os.path.join(ROOT, rel))
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(base, path)) if path else os.path.join(ROOT, rel)
        name = os.path.relpath(full, ROOT).replace(os.sep, "/")
        assert os.path.exists(full), f"{rel}: the link {target} leads nowhere ({name})"
        if anchor and full.endswith(".md"):
            assert anchor in _anchors(full), f"{rel}: no heading for the link {target}"


# ------------------------------------------------------- the 100-line build


def test_build_your_own_reaches_the_seed_example_with_its_own_engine():
    """The build's first three blocks are the whole engine: run them alone, build
    the seed README's example with their Var, and compare with regrad's pure
    engine (an independent implementation) and with the README's numbers."""
    import sys as _sys
    _sys.path.insert(0, os.path.join(ROOT, "tests"))
    from seed import seed_example
    engine = runnable("doc/build-your-own.md")[:3]
    assert sum(1 for b in engine for line in b.splitlines() if line.strip()) <= 100
    ns = {"__name__": "build_your_own"}
    for src in engine:
        exec(compile(src, "doc/build-your-own.md", "exec"), ns)
    a, b, g = seed_example(ns["Var"])
    g.backward()
    assert [f"{x:.4f}" for x in (g.val, a.grad, b.grad)] == ["24.7041", "222.1341", "978.7784"]
    ra, rb, rg = seed_example(regrad.get_engine("python").Var)
    rg.backward()
    for mine, theirs in ((g.val, rg.val), (a.grad, ra.grad), (b.grad, rb.grad)):
        assert abs(mine - theirs) <= 1e-12 * abs(theirs)
