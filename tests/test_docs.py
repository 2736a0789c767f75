"""The documents in doc/ and README_zh.md: doc/ops.md is what doc/make_ops.py
writes from the operator table (so it cannot drift from regrad/ops.py), and
every Python snippet of the docs runs and prints what its comments say."""
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
