"""A layered (Sugiyama-style) layout for directed acyclic graphs, in plain Python.

The steps are the classic ones, each kept small and iterative (no recursion):

1. ranks: every node goes one rank past its deepest input (inputs before
   results); then nodes slide toward the side where they have more edges, so
   a constant sits just before the operator that uses it instead of at rank 0;
2. long edges are cut into chains of dummy nodes, one per rank they cross;
3. order within ranks: a depth-first start that keeps inputs in ``.src``
   order, then barycenter sweeps down and up (keeping the best order seen),
   then adjacent swaps while they remove crossings. Edges enter a node at
   "ports" spread along its input side in ``.src`` order, so that the first
   input of ``a - b`` is drawn on the left;
4. positions across ranks: repeated sweeps pull each node toward its
   neighbours (long edges weigh more, so they run straight), and a pool-
   adjacent-violators projection keeps the order and the minimum gaps.

Coordinates are abstract: ``u`` runs across a rank, ``v`` along the edges
(inputs at small ``v``). The renderer turns them into x/y for each orientation.
"""
import math

__all__ = ["Layout", "layout", "count_crossings"]


class Layout:
    """The result of ``layout``.

    ``centers[i]`` the (u, v) centre of node ``i``; ``sizes[i]`` its
    (across, along) size; ``rank[i]``; ``paths[k]`` the points of edge ``k``
    from its source's boundary to its target's boundary (the arrow's tip);
    ``extent`` the (u, v) size of the whole drawing; ``crossings`` the
    number of edge crossings between adjacent ranks.
    """

    __slots__ = ("centers", "sizes", "rank", "paths", "extent", "crossings")

    def __init__(self, centers, sizes, rank, paths, extent, crossings):
        self.centers = centers
        self.sizes = sizes
        self.rank = rank
        self.paths = paths
        self.extent = extent
        self.crossings = crossings


# ------------------------------------------------------------------- ranks

def _assign_ranks(n, ins, outs):
    """Ranks for nodes given in topological order (inputs first)."""
    rank = [0] * n
    for i in range(n):
        if ins[i]:
            rank[i] = 1 + max(rank[j] for j in ins[i])
    # Slide each node within the range its edges allow, toward the side with
    # more edges (this shortens the edges in total); sinks stay put.
    for _ in range(64):
        changed = False
        for i in range(n - 1, -1, -1):
            if not outs[i]:
                continue
            hi = min(rank[k] for k in outs[i]) - 1
            lo = 1 + max(rank[j] for j in ins[i]) if ins[i] else None
            balance = len(ins[i]) - len(outs[i])
            if balance < 0 or lo is None:
                new = hi
            elif balance > 0:
                new = lo
            else:
                continue
            if new != rank[i]:
                rank[i] = new
                changed = True
        if not changed:
            break
    # renumber the ranks in use as 0, 1, 2, ... (keeps every edge pointing up)
    used = sorted(set(rank))
    dense = {r: k for k, r in enumerate(used)}
    return [dense[r] for r in rank]


# ------------------------------------------------------------------- order

class _Bit:
    """A Fenwick tree counting keys, for crossing counts in O(E log E)."""

    __slots__ = ("tree",)

    def __init__(self, size):
        self.tree = [0] * (size + 1)

    def add(self, i):
        i += 1
        tree = self.tree
        while i < len(tree):
            tree[i] += 1
            i += i & -i

    def count_le(self, i):
        i += 1
        s = 0
        tree = self.tree
        while i > 0:
            s += tree[i]
            i -= i & -i
        return s


def count_crossings(layers, pos, down, port_scale):
    """Crossings between adjacent ranks. ``down[x]`` lists (target, port);
    an edge's end on the lower rank is ordered by (target position, port)."""
    total = 0
    for r in range(len(layers) - 1):
        keys = []
        for t in layers[r]:                      # tops in order
            ends = sorted(pos[b] * port_scale + p for b, p in down[t])
            keys.extend(ends)
        if len(keys) < 2:
            continue
        ranks = {k: i for i, k in enumerate(sorted(set(keys)))}
        bit = _Bit(len(ranks))
        for j, k in enumerate(keys):
            rk = ranks[k]
            total += j - bit.count_le(rk)         # earlier keys strictly greater
            bit.add(rk)
    return total


def _initial_order(n_all, rank, up, roots, n_ranks, reverse=False):
    """Depth-first from the roots through inputs in port order; each rank
    lists its nodes in the order they finish (inputs left of results)."""
    layers = [[] for _ in range(n_ranks)]
    seen = [False] * n_all
    for root in roots:
        if seen[root]:
            continue
        seen[root] = True
        stack = [[root, sorted(up[root], key=lambda e: e[1], reverse=reverse), 0]]
        while stack:
            frame = stack[-1]
            x, ins, i = frame
            if i < len(ins):
                frame[2] = i + 1
                y = ins[i][0]
                if not seen[y]:
                    seen[y] = True
                    stack.append([y, sorted(up[y], key=lambda e: e[1], reverse=reverse), 0])
            else:
                stack.pop()
                layers[rank[x]].append(x)
    return layers


def _port_shift(port, nports):
    """A small shift that orders the inputs of one node by port."""
    if nports <= 1:
        return 0.0
    return (port / (nports - 1) - 0.5) * 0.4


def _sweep(layers, pos, neighbours, nports, rng, port_at_neighbour):
    """One sweep over the ranks in ``rng``, ordering each rank by the
    positions of its neighbours on the rank already placed (their weighted
    median; the mean breaks ties)."""
    for r in rng:
        layer = layers[r]
        keyed = []
        for x in layer:
            nb = neighbours[x]
            if nb:
                if port_at_neighbour:
                    vals = sorted(pos[y] + _port_shift(p, nports[y]) for y, p in nb)
                else:
                    vals = sorted(pos[y] for y, p in nb)
                mean = sum(vals) / len(vals)
                m = len(vals)
                med = vals[m // 2] if m % 2 else (vals[m // 2 - 1] + vals[m // 2]) / 2.0
                keyed.append((med, mean, pos[x], x))
            else:
                keyed.append((float(pos[x]), float(pos[x]), pos[x], x))
        keyed.sort()
        layer[:] = [k[-1] for k in keyed]
        for i, x in enumerate(layer):
            pos[x] = i


def _pair_crossings(a, b, pos, up, down):
    """Crossings among the edges of ``a`` and ``b`` when ``a`` is left of ``b``."""
    c = 0
    ub = [pos[y] for y, _ in up[b]]
    for y, _ in up[a]:
        pa = pos[y]
        for pb in ub:
            if pa > pb:
                c += 1
    db = [(pos[z], p) for z, p in down[b]]
    for z, p in down[a]:
        ka = (pos[z], p)
        for kb in db:
            if ka > kb:
                c += 1
    return c


def _transpose(layers, pos, up, down, max_passes=12, equal=False):
    """Swap neighbours in a rank while that removes crossings; with
    ``equal``, the first pass also swaps pairs that cross as much either way
    (a shake that lets the next sweep leave a plateau)."""
    for k in range(max_passes):
        improved = False
        for layer in layers:
            for i in range(len(layer) - 1):
                a, b = layer[i], layer[i + 1]
                c_ab = _pair_crossings(a, b, pos, up, down)
                c_ba = _pair_crossings(b, a, pos, up, down)
                if c_ab > c_ba or (equal and k == 0 and c_ab == c_ba and c_ab > 0):
                    layer[i], layer[i + 1] = b, a
                    pos[a], pos[b] = i + 1, i
                    improved = improved or c_ab > c_ba
        if not improved:
            break


def _set_positions(layers, pos):
    for layer in layers:
        for i, x in enumerate(layer):
            pos[x] = i


def _improve(layers, pos, up, down, nports, port_scale, max_iter):
    """Sweeps down and up, each followed by transpositions, keeping the
    order with the fewest crossings; returns (order, crossings)."""
    n_ranks = len(layers)
    best = [list(layer) for layer in layers]
    best_c = count_crossings(layers, pos, down, port_scale)
    stale = 0
    for it in range(max_iter):
        if best_c == 0:
            break
        improved = False
        for direction in ("down", "up"):
            if direction == "down":
                _sweep(layers, pos, up, nports, range(1, n_ranks), False)
            else:
                _sweep(layers, pos, down, nports, range(n_ranks - 2, -1, -1), True)
            _transpose(layers, pos, up, down, equal=it % 2 == 1)
            c = count_crossings(layers, pos, down, port_scale)
            if c < best_c:
                best, best_c, improved = [list(layer) for layer in layers], c, True
        stale = 0 if improved else stale + 1
        if stale >= 3:
            break
    return best, best_c


def _order(n_all, lrank, up, down, nports, roots, n_ranks, max_iter=12):
    """Layers (lists of nodes, left to right) with few crossings: the best of
    two depth-first starts (inputs in port order, and reversed), each improved
    by sweeps and transpositions. Returns (layers, pos, crossings)."""
    port_scale = max(nports, default=1) + 1
    pos = [0] * n_all
    best, best_c = None, None
    for reverse in (False, True):
        layers = _initial_order(n_all, lrank, up, roots, n_ranks, reverse)
        _set_positions(layers, pos)
        order, c = _improve(layers, pos, up, down, nports, port_scale, max_iter)
        if best is None or c < best_c:
            best, best_c = order, c
        if best_c == 0:
            break
    _set_positions(best, pos)
    return best, pos, best_c


# ------------------------------------------------------------- coordinates

def _project(desired, weight, seps):
    """Positions closest to ``desired`` (weighted least squares) keeping
    ``x[i+1] - x[i] >= seps[i]``: pool adjacent violators on the shifted
    problem, exact and linear in the rank's size."""
    m = len(desired)
    offset = [0.0] * m
    for i in range(1, m):
        offset[i] = offset[i - 1] + seps[i - 1]
    blocks = []   # [weight sum, weighted target sum, count]
    for i in range(m):
        w = weight[i]
        blocks.append([w, w * (desired[i] - offset[i]), 1])
        while len(blocks) > 1 and blocks[-2][1] * blocks[-1][0] >= blocks[-1][1] * blocks[-2][0]:
            w2, s2, c2 = blocks.pop()
            blocks[-1][0] += w2
            blocks[-1][1] += s2
            blocks[-1][2] += c2
    out = []
    i = 0
    for w, s, c in blocks:
        y = s / w
        for _ in range(c):
            out.append(y + offset[i])
            i += 1
    return out


def layout(n, edges, sizes, *, node_gap=24.0, edge_gap=10.0, rank_gap=44.0,
           port_span=0.5, port_max=26.0):
    """Lay out ``n`` nodes given in topological order.

    ``edges``: (src, dst, port) with ``src`` before ``dst``; ``port`` the
    input slot at ``dst`` (0, 1, ...). ``sizes[i]``: (across, along) of node
    ``i``. Returns a ``Layout``.
    """
    ins = [[] for _ in range(n)]
    outs = [[] for _ in range(n)]
    nports = [0] * n
    for s, d, p in edges:
        ins[d].append(s)
        outs[s].append(d)
        nports[d] = max(nports[d], p + 1)
    rank = _assign_ranks(n, ins, outs)
    n_ranks = (max(rank) + 1) if n else 0

    # --- the layered graph: real nodes 0..n-1, then dummies
    lrank = list(rank)
    across = [float(a) for a, _ in sizes]
    dummy = [False] * n
    up = [[] for _ in range(n)]      # (neighbour on the rank before, port at self)
    down = [[] for _ in range(n)]    # (neighbour on the rank after, port at it)
    chains = []
    for s, d, p in edges:
        chain = [s]
        for r in range(rank[s] + 1, rank[d]):
            x = len(lrank)
            lrank.append(r)
            across.append(0.0)
            dummy.append(True)
            up.append([])
            down.append([])
            nports.append(1)
            chain.append(x)
        chain.append(d)
        for a, b in zip(chain, chain[1:]):
            port = p if b == d else 0
            up[b].append((a, port))
            down[a].append((b, port))
        chains.append(chain)
    n_all = len(lrank)

    # --- order within ranks
    roots = [i for i in range(n - 1, -1, -1) if not outs[i]]
    layers, pos, crossings = _order(n_all, lrank, up, down, nports, roots, n_ranks)

    # --- positions across ranks
    def port_offset(x, p):
        k = nports[x]
        if dummy[x] or k <= 1:
            return 0.0
        span = min(across[x] * port_span, port_max * (k - 1))
        return (p / (k - 1) - 0.5) * span

    def omega(a, b):
        return 8.0 if dummy[a] and dummy[b] else (2.0 if dummy[a] or dummy[b] else 1.0)

    def gap(a, b):
        if dummy[a] or dummy[b]:
            return edge_gap
        return node_gap

    seps = []
    u = [0.0] * n_all
    for layer in layers:
        s = [(across[a] + across[b]) / 2.0 + gap(a, b) for a, b in zip(layer, layer[1:])]
        seps.append(s)
        x = -sum(s) / 2.0
        for i, node in enumerate(layer):
            u[node] = x
            if i < len(s):
                x += s[i]

    # A leaf used once ("hanging") can sit anywhere beside its consumer: it
    # does not pull on a consumer that has other inputs, and gives way to its
    # neighbours, so chains stay straight instead of drifting sideways.
    hanging = [False] * n_all
    for i in range(n):
        hanging[i] = not ins[i] and len(outs[i]) == 1

    def pull(r, use_up, use_down):
        layer = layers[r]
        if not layer:
            return
        desired, weight = [], []
        for x in layer:
            tot = wsum = 0.0
            if use_up:
                ups = up[x]
                if any(not hanging[y] for y, _ in ups):
                    ups = [(y, p) for y, p in ups if not hanging[y]]
                for y, p in ups:
                    w = omega(x, y)
                    tot += w * u[y]
                    wsum += w
            if use_down:
                for z, p in down[x]:
                    w = omega(x, z)
                    tot += w * u[z]
                    wsum += w
            if wsum:
                desired.append(tot / wsum)
                weight.append(wsum * (1e-3 if hanging[x] else 1.0))
            else:
                desired.append(u[x])
                weight.append(1e-3 if hanging[x] else 0.25)
        for x, v in zip(layer, _project(desired, weight, seps[r])):
            u[x] = v

    for _ in range(8):
        for r in range(1, n_ranks):
            pull(r, True, False)
        for r in range(n_ranks - 2, -1, -1):
            pull(r, False, True)
    for _ in range(4):
        for r in range(n_ranks):
            pull(r, True, True)

    left = min((u[x] - across[x] / 2.0 for x in range(n_all)), default=0.0)
    u = [v - left for v in u]
    width = max((u[x] + across[x] / 2.0 for x in range(n_all)), default=0.0)

    # --- positions along the edges
    thick = [0.0] * n_ranks
    for i in range(n):
        thick[rank[i]] = max(thick[rank[i]], float(sizes[i][1]))
    vr = [0.0] * n_ranks
    for r in range(n_ranks):
        vr[r] = thick[0] / 2.0 if r == 0 else vr[r - 1] + thick[r - 1] / 2.0 + rank_gap + thick[r] / 2.0
    height = (vr[-1] + thick[-1] / 2.0) if n_ranks else 0.0
    centers = [(u[i], vr[rank[i]]) for i in range(n)]

    paths = []
    for (s, d, p), chain in zip(edges, chains):
        pts = [(u[s], vr[rank[s]] + sizes[s][1] / 2.0)]
        for x in chain[1:-1]:
            r = lrank[x]
            if thick[r] > 0:
                pts.append((u[x], vr[r] - thick[r] / 2.0))
                pts.append((u[x], vr[r] + thick[r] / 2.0))
            else:
                pts.append((u[x], vr[r]))
        pts.append((u[d] + port_offset(d, p), vr[rank[d]] - sizes[d][1] / 2.0))
        paths.append(pts)

    return Layout(centers, [(float(a), float(b)) for a, b in sizes], rank, paths,
                  (width, height), crossings)
