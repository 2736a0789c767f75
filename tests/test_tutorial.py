"""doc/tutorial.ipynb runs in a Jupyter kernel on both engines, and its cells
show what the page says: the seed example's numbers, drawings with their
colour key, the backward steps as pictures (not an object's repr), a training
run whose loss falls, and its picture."""
import os
import re

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

import regrad  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "doc", "tutorial.ipynb")


def test_the_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def _run(tmp_path, monkeypatch, engine):
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.delenv("REGRAD_PURE_PYTHON", raising=False)
    if engine == "python":
        monkeypatch.setenv("REGRAD_PURE_PYTHON", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    return {cell.metadata["tags"][0]: cell.outputs for cell in nb.cells
            if cell.cell_type == "code"}


def _text(outputs):
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def _data(outputs, mime):
    found = [o["data"][mime] for o in outputs
             if o.output_type in ("execute_result", "display_data") and mime in o["data"]]
    assert found, f"no {mime} output"
    return found[0]


@pytest.mark.parametrize("engine", ["cython", "python"])
def test_the_notebook_runs_and_shows_what_it_says(tmp_path, monkeypatch, engine):
    regrad.get_engine(engine)           # the compiled engine must be built
    out = _run(tmp_path, monkeypatch, engine)
    for tag, outputs in out.items():
        assert not [o for o in outputs if o.output_type == "error"], tag
    assert _text(out["engine"]).strip() == engine
    # the seed README's numbers
    assert _text(out["first-gradient"]).split() == ["24.7041", "222.1341", "978.7784"]
    # a drawing shows itself as SVG with its colour key, the gradient on the leaf
    html = _data(out["drawing"], "text/html")
    assert "<svg" in html and 'class="legend"' in html and "variable, requires grad" in html
    assert "x = 0.5000" in html and "grad 0.2350" in html      # sigmoid'(0.5) = 0.2350
    # the step-by-step object shows its pictures, not <BackwardSteps at 0x...>
    steps = _data(out["steps"], "text/html")
    assert steps.count("<svg") == 5 and "Step 4 of 4" in steps and 'class="legend"' in steps
    assert "at 0x" not in steps
    table = _text(out["steps-table"]).splitlines()
    assert table[2].startswith("| 1 | y |") and table[-1].startswith("| 4 | c |")
    # the training run: the loss falls; the picture is an SVG
    m = re.fullmatch(r"loss ([\d.]+) -> ([\d.]+), accuracy (\d+)%\n", _text(out["training"]))
    assert m and float(m.group(2)) < float(m.group(1)) / 2 and int(m.group(3)) >= 80
    assert "<svg" in _data(out["plot"], "image/svg+xml")
    assert os.path.exists(tmp_path / "tutorial_moons.svg")
