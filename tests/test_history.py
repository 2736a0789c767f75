"""The comparison report's history: entries, the file, the table, the picture
and the command line (``--record``, ``--history``)."""
import json
import xml.etree.ElementTree as ET

import pytest

from regrad.apps import history
from regrad.apps.main import main


def report(pure_ms, torch_ms, lanes_ms, missing="jax"):
    rows = [dict(key="pure", ms=pure_ms), dict(key="torch-batched", ms=torch_ms),
            dict(key="lanes", ms=lanes_ms), dict(key=missing, ms=None, missing="absent")]
    return dict(rows=rows, machine=["cpu", "python"], settings=dict(cpu_share=0.9))


def test_an_entry_keeps_times_and_the_ratios_within_its_run():
    e = history.entry(report(400.0, 0.5, 0.1), commit="abc1234")
    assert e["commit"] == "abc1234" and e["machine"] == ["cpu", "python"]
    assert set(e["rows"]) == {"pure", "torch-batched", "lanes"}     # not the missing one
    lanes = e["rows"]["lanes"]
    assert lanes["ms"] == 0.1 and lanes["vs_pure"] == 400.0 / 0.1 and lanes["vs_torch"] == 5.0
    assert history.entry(dict(report(1.0, 1.0, 1.0), rows=[dict(key="lanes", ms=2.0)]),
                         commit="x")["rows"]["lanes"] == dict(ms=2.0, vs_pure=None, vs_torch=None)


def test_an_entry_keeps_what_the_docs_quote():
    rep = report(400.0, 0.5, 0.1)
    rep["rows"][0].update(label="regrad pure-Python", ms_min=390.0, ms_max=420.0, bytes=188.2,
                          first_step=0.47)
    rep["targets"] = [dict(target="t", value=2.0, shown="2.00x", holds=False, why=None)]
    rep["scaling"] = {"chain": {"1000": dict(nodes=999, seconds=[3e-5, 1e-5, 2e-5])}}
    e = history.entry(rep, commit="abc1234")
    assert e["rows"]["pure"] == dict(ms=400.0, vs_pure=1.0, vs_torch=0.5 / 400.0,
                                     label="regrad pure-Python", ms_min=390.0, ms_max=420.0,
                                     bytes=188.2, first_step=0.47)
    assert e["targets"] == [dict(target="t", shown="2.00x", holds=False)]
    assert e["scaling"] == {"chain": {"1000": pytest.approx(2e-5 / 999 * 1e9)}}
    assert json.loads(json.dumps(e)) == e


def test_the_file_round_trips_and_names_a_bad_line(tmp_path):
    path = tmp_path / "h.jsonl"
    for k, c in enumerate(("aaa", "bbb")):
        history.append(path, history.entry(report(400.0, 0.5, 0.1 * (k + 1)), commit=c))
    runs = history.load(path)
    assert [r["commit"] for r in runs] == ["aaa", "bbb"]
    assert runs[1]["rows"]["lanes"]["ms"] == 0.2
    text = history.table(runs).splitlines()
    assert text[0].split() == ["contender", "aaa", "bbb"]
    assert "lanes" in text[1] and text[1].split()[1:] == ["10,000", "5,000"]
    with open(path, "a") as f:
        f.write("{not json\n")
    with pytest.raises(ValueError, match="line 3"):
        history.load(path)


def test_the_picture_has_a_line_and_a_legend_per_contender(tmp_path):
    runs = [history.entry(report(400.0, 0.5, 0.1 * (k + 1)), commit=f"c{k}") for k in range(3)]
    root = ET.fromstring(history.svg(runs))
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 3
    lanes = [p for p in lines][0]    # contenders in name order: lanes, pure, torch-batched
    ys = [float(p.split(",")[1]) for p in lanes.get("points").split()]
    assert ys[0] < ys[1] < ys[2]     # slower each run: fewer steps per second, lower
    labels = [t.text for t in root.findall(f"{ns}text")]
    assert {"lanes", "pure", "torch-batched", "c0", "c1", "c2"} <= set(labels)


def test_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--history", "missing.jsonl"])
    assert "cannot read missing.jsonl" in str(exc.value.code)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--history", "empty.jsonl"])
    assert "no run yet" in str(exc.value.code)
    assert main(["bench", "--only", "floats", "--rounds", "1", "--min-time", "0",
                 "--no-scaling", "--no-picture", "--record", "h.jsonl"]) == 0
    (run,) = history.load(tmp_path / "h.jsonl")
    assert set(run["rows"]) == {"floats"} and run["rows"]["floats"]["ms"] > 0
    capsys.readouterr()
    assert main(["bench", "--history", "h.jsonl", "--out", "h.svg"]) == 0
    out = capsys.readouterr().out
    assert "floats" in out and (tmp_path / "h.svg").read_text().startswith("<svg")
    json.dumps(run)                  # plain JSON, nothing else


def _write(path, lines):
    path.write_text("".join(line if isinstance(line, str) else json.dumps(line) + "\n"
                            for line in lines))


GOOD = {"commit": "aaa", "rows": {"lanes": {"ms": 0.1}}}


@pytest.mark.parametrize("bad, problem", [
    ({"commit": "b", "rows": {"lanes": {"ms": 0}}}, "time in ms > 0"),
    ({"commit": "b", "rows": {"lanes": {"ms": -2.5}}}, "time in ms > 0"),
    ({"commit": "b", "rows": {"lanes": {"ms": "3"}}}, "time in ms > 0"),
    ({"commit": "b", "rows": {"lanes": {"ms": True}}}, "time in ms > 0"),
    ({"commit": "b", "rows": {"lanes": {"ms": float("nan")}}}, "time in ms > 0"),
    ({"commit": "b", "rows": {"lanes": {"ms": float("inf")}}}, "time in ms > 0"),
    ({"commit": "b", "rows": {"lanes": 5}}, "time in ms > 0"),
    ({"commit": "b", "rows": {"lanes": {}}}, "time in ms > 0"),
    ({"commit": "b", "rows": 5}, "no rows object"),
    ({"commit": "b", "rows": [1, 2]}, "no rows object"),
    ({"commit": 5, "rows": {}}, "commit 5 is not a string"),
    ([1, 2], "no rows object"),
    (7, "no rows object"),
    ("{not json\n", "not JSON"),
])
def test_a_bad_line_is_named_in_one_line_and_nothing_is_drawn(tmp_path, capsys, monkeypatch,
                                                               bad, problem):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "h.jsonl", [GOOD, "\n", bad, GOOD])
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--history", "h.jsonl", "--out", "h.svg"])
    message = str(exc.value.code)
    assert exc.value.code not in (0, None) and "\n" not in message
    assert message.startswith("python -m regrad bench: error: h.jsonl, line 3: ")
    assert problem in message
    assert capsys.readouterr().out == ""
    assert not (tmp_path / "h.svg").exists()


def test_runs_without_rows_draw_nothing_or_are_skipped(tmp_path, capsys, monkeypatch):
    """A run that timed nothing (``--only micrograd`` without micrograd) is a
    valid line: alone, there is nothing to draw; beside others, a gap."""
    monkeypatch.chdir(tmp_path)
    empty = history.entry(dict(report(1.0, 1.0, 1.0), rows=[dict(key="micrograd", ms=None)]),
                          commit="e")
    assert empty["rows"] == {}
    history.append(tmp_path / "h.jsonl", empty)
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--history", "h.jsonl", "--out", "h.svg"])
    assert "holds no timing" in str(exc.value.code) and "\n" not in str(exc.value.code)
    assert not (tmp_path / "h.svg").exists()
    history.append(tmp_path / "h.jsonl", history.entry(report(400.0, 0.5, 0.1), commit="f"))
    history.append(tmp_path / "h.jsonl", empty)
    assert main(["bench", "--history", "h.jsonl", "--out", "h.svg"]) == 0
    labels = [t.text for t in ET.parse(tmp_path / "h.svg").getroot().iter(
        "{http://www.w3.org/2000/svg}text")]
    assert {"e", "f", "lanes"} <= set(labels)


@pytest.mark.parametrize("out", ["h.png", "no/such/dir/h.svg", "."])
def test_a_bad_history_picture_path_is_a_usage_error_before_reading(tmp_path, capsys,
                                                                   monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--history", "missing.jsonl", "--out", out])
    assert exc.value.code == 2
    assert "error: argument --out: " in capsys.readouterr().err


def test_hostile_commit_names_stay_text_in_the_picture(tmp_path):
    runs = [dict(GOOD, commit="\x1b[1m<b>x</b>\x0c"), dict(GOOD, commit="]]>&")]
    root = ET.fromstring(history.svg(runs))
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "\u241b[1m<b>x</b>\u240c" in labels and "]]>&" in labels
