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
    """Each target with this run's value: ``dict(target, value, shown, holds,
    why)``; value and holds are None where the run did not measure it (why
    says what it needs)."""
    t = TARGETS
    row = {r["key"]: r for r in rows}

    def ratio(text, num, den, holds, needs, shown=None):
        """A target on the median per-round ratio of num's time to den's."""
        if num not in per_round or den not in per_round:
            return _target(text, None, "-", None, f"needs {needs}")
        v = _paired_ratio(per_round[num], per_round[den])
        return _target(text, v, f"{shown}: {_fmt_ratio(v)}" if shown else _fmt_ratio(v), holds(v))

    out = [ratio(f"step >= {t['speedup_vs_pure']:g}x faster than the pure engine", "pure",
                 "compiled", lambda v: v >= t["speedup_vs_pure"], "compiled and pure"),
           ratio(f"step <= {t['vs_floats']:g}x the plain-float forward", "compiled", "floats",
                 lambda v: v <= t["vs_floats"], "compiled and floats"),
           _bytes_target(row.get("compiled", {})),
           _scaling_target(scaling),
           ratio("replay: step faster than PyTorch, batched tensors", "torch-batched", "replay",
                 lambda v: v > t["replay_vs_torch"], "replay and torch-batched",
                 "PyTorch's time / replay's"),
           _replay_target(row.get("replay", {}).get("nodes"), per_round.get("replay")),
           ratio(f"lanes: step <= {t['lanes_vs_jax']:g}x JAX jit(grad)'s, loss read at the end",
                 "lanes", "jax-loop", lambda v: v <= t["lanes_vs_jax"], "lanes and jax-loop",
                 "lanes' time / JAX's"),
           ratio(f"lanes: step <= {t['lanes_vs_c']:g}x the hand-written C step", "lanes", "c",
                 lambda v: v <= t["lanes_vs_c"], "lanes and c", "lanes' time / C's"),
           ratio("lanes: step faster than NumPy, hand-written backward", "numpy", "lanes",
                 lambda v: v > t["lanes_vs_numpy"], "lanes and numpy", "NumPy's time / lanes'")]
    if not work.is_default:
        for tg in out:
            tg["why"] = (tg["why"] + "; " if tg["why"] else "") + "not the default moons step"
    return out


def _target(text, value, shown, holds, why=None):
    return dict(target=text, value=value, shown=shown, holds=None if value is None else holds,
                why=why)


def _bytes_target(comp):
    text = f"<= {TARGETS['bytes_per_node']:g} bytes held per node"
    if "bytes" not in comp:
        return _target(text, None, "-", None, "needs compiled")
    v = comp["bytes"]
    return _target(text, v, f"{v:.1f} B ({comp['bytes_rounded']:.1f} B in 16-byte blocks)",
                   v <= TARGETS["bytes_per_node"])


def _scaling_target(scaling):
    """The worst shape's ratio of the cost per node at the two target sizes."""
    lo, hi = SCALING_TARGET_SIZES
    worst = None
    for shape, d in scaling.items():
        if lo in d and hi in d:
            (n_lo, t_lo), (n_hi, t_hi) = d[lo], d[hi]
            v = _median([(b / n_hi) / (a / n_lo) for a, b in zip(t_lo, t_hi)])
            if worst is None or v > worst[0]:
                worst = (v, shape)
    text = f"per-node cost at 10^6 nodes <= {TARGETS['scaling']:g}x that at 10^4"
    if worst is None:
        return _target(text, None, "-", None, "needs scaling sizes 10^4 and 10^6")
    return _target(text, worst[0], f"{_fmt_ratio(worst[0])} (worst shape: {worst[1]})",
                   worst[0] <= TARGETS["scaling"])


def _replay_target(nodes, times):
    text = f"replay: step <= {TARGETS['replay_ns_per_node']:g} ns per node"
    if times is None or not nodes:
        return _target(text, None, "-", None, "needs replay")
    v = _median(times) / nodes * 1e9
    return _target(text, v, f"{v:.2f} ns ({nodes:,} nodes)", v <= TARGETS["replay_ns_per_node"])
