"""The compiled engine's targets and whether a run meets them."""
from .bench_workload import SCALING_TARGET_SIZES
from .bench_measuring import _median, _paired_ratio
from .bench_formatting import _fmt_ratio


#: the compiled engine's targets (issues 5, 14 and 22)
TARGETS = dict(
    speedup_vs_pure=35.0,     # moons step >= 35x faster than the pure engine
    vs_floats=1.4,            # moons step <= 1.4x the plain-float forward pass
    bytes_per_node=48.0,      # <= 48 bytes held per node
    scaling=1.5,              # cost per node at 10^6 nodes <= 1.5x that at 10^4
    # static-graph replay
    replay_vs_torch=1.0,      # replay's step faster than PyTorch's batched tensors
    replay_ns_per_node=7.0,   # replay's step (forward, backward, update) <= 7 ns per node
    # lanes: one point's graph over the batch
    lanes_vs_jax=0.3,         # lanes' step <= 0.3x JAX jit(grad)'s in a loop that never waits
    lanes_vs_c=1.5,           # lanes' step <= 1.5x the hand-written C step's
    lanes_vs_numpy=1.0,       # lanes' step faster than NumPy with a hand-written backward
)


def _targets(rows, per_round, scaling, work):
    row = {r["key"]: r for r in rows}
    comp = row.get("compiled", {})
    out = []

    def add(text, value, shown, holds, why=None):
        out.append(dict(target=text, value=value, shown=shown,
                        holds=None if value is None else holds, why=why))

    t = TARGETS
    if "compiled" in per_round and "pure" in per_round:
        v = _paired_ratio(per_round["pure"], per_round["compiled"])
        add(f"step >= {t['speedup_vs_pure']:g}x faster than the pure engine", v,
            _fmt_ratio(v), v >= t["speedup_vs_pure"])
    else:
        add(f"step >= {t['speedup_vs_pure']:g}x faster than the pure engine", None, "-",
            None, "needs compiled and pure")
    if "compiled" in per_round and "floats" in per_round:
        v = _paired_ratio(per_round["compiled"], per_round["floats"])
        add(f"step <= {t['vs_floats']:g}x the plain-float forward", v, _fmt_ratio(v),
            v <= t["vs_floats"])
    else:
        add(f"step <= {t['vs_floats']:g}x the plain-float forward", None, "-", None,
            "needs compiled and floats")
    if "bytes" in comp:
        v = comp["bytes"]
        add(f"<= {t['bytes_per_node']:g} bytes held per node", v,
            f"{v:.1f} B ({comp['bytes_rounded']:.1f} B in 16-byte blocks)",
            v <= t["bytes_per_node"])
    else:
        add(f"<= {t['bytes_per_node']:g} bytes held per node", None, "-", None,
            "needs compiled")
    lo, hi = SCALING_TARGET_SIZES
    worst = None
    for shape, d in scaling.items():
        if lo in d and hi in d:
            (n_lo, t_lo), (n_hi, t_hi) = d[lo], d[hi]
            v = _median([(b / n_hi) / (a / n_lo) for a, b in zip(t_lo, t_hi)])
            if worst is None or v > worst[0]:
                worst = (v, shape)
    text = f"per-node cost at 10^6 nodes <= {t['scaling']:g}x that at 10^4"
    if worst is None:
        add(text, None, "-", None, "needs scaling sizes 10^4 and 10^6")
    else:
        add(text, worst[0], f"{_fmt_ratio(worst[0])} (worst shape: {worst[1]})",
            worst[0] <= t["scaling"])
    def paired(text, num, den, shown, holds, needs):
        """A target on the median per-round ratio of num's time to den's."""
        if num in per_round and den in per_round:
            v = _paired_ratio(per_round[num], per_round[den])
            add(text, v, f"{shown}: {_fmt_ratio(v)}", holds(v))
        else:
            add(text, None, "-", None, f"needs {needs}")

    paired("replay: step faster than PyTorch, batched tensors", "torch-batched", "replay",
           "PyTorch's time / replay's", lambda v: v > t["replay_vs_torch"],
           "replay and torch-batched")
    text = f"replay: step <= {t['replay_ns_per_node']:g} ns per node"
    nodes = row.get("replay", {}).get("nodes")
    if "replay" in per_round and nodes:
        v = _median(per_round["replay"]) / nodes * 1e9
        add(text, v, f"{v:.2f} ns ({nodes:,} nodes)", v <= t["replay_ns_per_node"])
    else:
        add(text, None, "-", None, "needs replay")
    paired(f"lanes: step <= {t['lanes_vs_jax']:g}x JAX jit(grad)'s, loss read at the end",
           "lanes", "jax-loop", "lanes' time / JAX's", lambda v: v <= t["lanes_vs_jax"],
           "lanes and jax-loop")
    paired(f"lanes: step <= {t['lanes_vs_c']:g}x the hand-written C step", "lanes", "c",
           "lanes' time / C's", lambda v: v <= t["lanes_vs_c"], "lanes and c")
    paired("lanes: step faster than NumPy, hand-written backward", "numpy", "lanes",
           "NumPy's time / lanes'", lambda v: v > t["lanes_vs_numpy"], "lanes and numpy")
    if not work.is_default:
        for tg in out:
            tg["why"] = (tg["why"] + "; " if tg["why"] else "") + "not the default moons step"
    return out
