"""The documents in doc/ and README_zh.md: doc/ops.md is what doc/make_ops.py
writes from the operator table (so it cannot drift from regrad/ops.py), and
every Python snippet of the docs runs and prints what its comments say."""
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


def test_ops_md_is_what_the_script_writes():
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

DOCS = ["doc/autograd.md", "doc/higher-order.md", "README_zh.md"]
QUOTE = re.compile(r"# (regrad/[\w/]+\.py), ([\w.]+)$")
EXPECT = re.compile(r"#\s*(?:prints|输出)\s+(.*?)\s*$")
MARK = "----- block {} -----"


def blocks(rel):
    text = open(os.path.join(ROOT, rel), encoding="utf-8").read()
    return re.findall(r"^```python\n(.*?)^```$", text, re.S | re.M)


def runnable(rel):
    return [b for b in blocks(rel) if not QUOTE.match(b.split("\n", 1)[0])]


@pytest.mark.parametrize("engine_name", ["cython", "python"])
@pytest.mark.parametrize("rel", DOCS)
def test_doc_snippets_run_and_print_what_they_say(tmp_path, rel, engine_name):
    regrad.get_engine(engine_name)      # the compiled engine must be built
    code = runnable(rel)
    assert code, f"{rel} has no Python block"
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
