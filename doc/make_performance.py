"""Write the performance figures of README.md, README_zh.md and
doc/performance.md from the last run recorded in benchmarks/history.jsonl.

    python doc/make_performance.py          # rewrite the tables in place
    python doc/make_performance.py --check  # exit 1 if a committed page differs

Each page holds its tables between two markers; this script replaces what is
between them and nothing else. The figures live in one place, the history
(`python -m regrad bench --record` appends a run), so the pages cannot
disagree with each other or with the run they quote. tests/test_docs.py fails
when a page differs from what this script writes.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HISTORY = os.path.join(ROOT, "benchmarks", "history.jsonl")
BEGIN = "<!-- performance: written by doc/make_performance.py from benchmarks/history.jsonl -->"
END = "<!-- end of performance -->"

#: The README's small table: how a training step can run, regrad's ways first,
#: then the others as their users write them, down to hand-written C.
SHORT = (("pure", "pure-Python engine, graph rebuilt each step"),
         ("compiled", "compiled engine, graph rebuilt each step"),
         ("replay", "replay: the step's graph recorded once"),
         ("lanes", "lanes: one point's graph run over the batch"),
         ("torch-batched", "PyTorch, batched float64 tensors (1 thread)"),
         ("jax-loop", "JAX `jit(grad)`, a loop of steps reading the loss at the end"),
         ("c", "hand-written C, the same step (`benchmarks/moons_step.c`)"))
SHORT_ZH = {"pure": "纯 Python 引擎，每步重建计算图", "compiled": "编译引擎，每步重建计算图",
            "replay": "replay：整步计算图只记录一次", "lanes": "lanes：单个样本的计算图在整批上运行",
            "torch-batched": "PyTorch，批量 float64 张量（单线程）",
            "jax-loop": "JAX 对整步做 `jit(grad)`，循环多步、最后才读取损失",
            "c": "手写 C，同样的一步（`benchmarks/moons_step.c`）"}
#: The report's order of contenders (others follow, by name).
ORDER = ("compiled", "replay", "lanes", "pure", "micrograd", "torch-scalar", "torch-batched",
         "numpy", "jax", "jax-loop", "casadi", "c", "floats")
SCALING_NAMES = {"chain": "chain (y = y*w + b)", "sum": "wide sum(xs)", "mlp": "MLP moons loss"}


def runs(path=HISTORY):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def last_run(path=HISTORY):
    """The last run, with the goals and the scaling table of the last run that
    recorded them (a run of only some contenders records neither)."""
    recorded = runs(path)
    run = dict(recorded[-1])
    for key in ("targets", "scaling"):
        if not run.get(key):
            earlier = [r for r in recorded if r.get(key)]
            if earlier:
                run[key] = earlier[-1][key]
                run[key + "_from"] = earlier[-1].get("commit") or "?"
    return run


def ms(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}" if x >= 1 \
        else f"{x:.3f}"


def ratio(x):
    if x is None:
        return "-"
    return f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 10 else f"{x:.2f}x" if x >= 0.1 \
        else f"{x:.2g}x"


def _source(run):
    return f"commit {run.get('commit') or '?'}, {run['date'][:10]}"


def readme_table(run, zh=False):
    rows = run["rows"]
    if zh:
        lines = ["| 一步训练的方式 | 毫秒/步 | 相对 PyTorch 批量 |", "|---|--:|--:|"]
    else:
        lines = ["| how the moons step runs | ms per step | vs PyTorch batched |",
                 "|---|--:|--:|"]
    for key, text in SHORT:
        if key in rows:
            name = SHORT_ZH[key] if zh else text
            lines.append(f"| {name} | {ms(rows[key]['ms'])} | {ratio(rows[key]['vs_torch'])} |")
    lines.append("")
    lines.append((f"（`python -m regrad bench` 的记录：{_source(run)}；全部数据见 "
                  "[doc/performance.md](doc/performance.md)。）") if zh else
                 (f"(`python -m regrad bench`, recorded at {_source(run)}; the whole run "
                  "is in [doc/performance.md](doc/performance.md).)"))
    return "\n".join(lines)


def performance_tables(run):
    rows = run["rows"]
    lines = [f"Run recorded at {_source(run)}. Machine: {run['machine'][0]}; "
             f"{run['machine'][1]}.", ""]
    share = run.get("cpu_share")
    if share is not None:
        lines[0] += f" The timed code got {min(share, 1.0):.0%} of a core."
    lines += ["| contender | ms/step | min-max over rounds | vs pure | vs PyTorch batched "
              "| bytes/node | first step, ms |", "|---|--:|--:|--:|--:|--:|--:|"]
    for key in sorted(rows, key=lambda k: (ORDER.index(k) if k in ORDER else len(ORDER), k)):
        r = rows[key]
        span = f"{ms(r['ms_min'])}-{ms(r['ms_max'])}" if "ms_min" in r else "-"
        size = f"{r['bytes']:.1f}" if "bytes" in r else "-"
        first = ms(r["first_step"] * 1e3) if "first_step" in r else "-"
        lines.append(f"| {r.get('label', key)} | {ms(r['ms'])} | {span} | "
                     f"{ratio(r['vs_pure'])} | {ratio(r['vs_torch'])} | {size} | {first} |")
    if run.get("targets"):
        when = f"run at commit {run['targets_from']}" if "targets_from" in run else "this run"
        lines += ["", f"| goal | {when} | |", "|---|---|---|"]
        for t in run["targets"]:
            verdict = ("not measured" if t["holds"] is None
                       else "met" if t["holds"] else "not met yet")
            lines.append(f"| {t['target']} | {t['shown']} | {verdict} |")
    if run.get("scaling"):
        sizes = sorted({int(n) for d in run["scaling"].values() for n in d})
        if "scaling_from" in run:
            lines += ["", f"The scaling table is from the run at commit {run['scaling_from']}."]
        lines += ["", "| build + backward + free, ns per node | "
                  + " | ".join(f"~{n:,} nodes" for n in sizes) + " |",
                  "|---|" + "--:|" * len(sizes)]
        for shape in sorted(run["scaling"], key=lambda k: (list(SCALING_NAMES).index(k)
                                                        if k in SCALING_NAMES else 99, k)):
            d = run["scaling"][shape]
            cells = [f"{d[str(n)]:.0f}" if str(n) in d else "-" for n in sizes]
            lines.append(f"| {SCALING_NAMES.get(shape, shape)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


PAGES = {"README.md": lambda run: readme_table(run),
         "README_zh.md": lambda run: readme_table(run, zh=True),
         "doc/performance.md": performance_tables}


def replace_block(text, body, rel):
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"{rel}: expected one pair of performance markers")
    head, rest = text.split(BEGIN)
    tail = rest.split(END)[1]
    return f"{head}{BEGIN}\n{body}\n{END}{tail}"


def render():
    """{path relative to the repository: text} for every page this script writes."""
    run = last_run()
    files = {}
    for rel, make in PAGES.items():
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            files[rel] = replace_block(f.read(), make(run), rel)
    return files


def main(argv):
    sys.path.insert(0, HERE)
    from make_ops import write       # the same writer, beside this script
    return write(render(), "--check" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
