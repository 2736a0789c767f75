"""A layered (Sugiyama-style) layout for directed acyclic graphs, in plain Python.

The steps are the classic ones, each kept small and iterative (no recursion):

1. ranks: every node goes one rank past its deepest input (inputs before
   results); then nodes slide toward the side where they have more edges, so
   a constant sits just before the operator that uses it instead of at rank 0
   (a node's results count once together, since they share a trunk);
2. long edges are cut into dummy nodes, one per rank they cross; the edges
   from one node share theirs (a trunk down to its deepest result, branching
   off at each result), so the dummies grow with the ranks, not with the uses;
3. order within ranks: a depth-first start that keeps inputs in ``.src``
   order, then sweeps down and up that sort each rank by the median position
   of its neighbours, each followed by adjacent swaps while they remove
   crossings; the best order seen wins (of two starts). Edges enter a node at
   "ports" spread along its input side in ``.src`` order, so that the first
   input of ``a - b`` is drawn on the left, and crossings at ports count;
4. positions across ranks: repeated sweeps pull each node toward its
   neighbours (long edges weigh more, so they run straight; a leaf used once
   gives way, so chains stay straight), and a pool-adjacent-violators
   projection keeps the order and the minimum gaps, exactly.

Every step costs about linear time in the nodes and dummies (sorting aside):
crossing counts are kept per pair of ranks and redone only where the order
changed, and the sweeps stop once nothing moves.

Coordinates are abstract: ``u`` runs across a rank, ``v`` along the edges
(inputs at small ``v``). The renderer turns them into x/y for each orientation.
"""
from operator import sub

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
    # more edges (this shortens the edges in total); sinks stay put. The
    # edges from one source share a trunk (see layout), so a node's results
    # weigh 1 together, an input with k results 1/k, and a leaf used once
    # nothing (it follows its result).
    pull_in = [0.0] * n
    for i in range(n):
        pull_in[i] = 0.0 if not ins[i] and len(outs[i]) == 1 else 1.0 / max(len(outs[i]), 1)
    balance_of = [sum(pull_in[j] for j in ins[i]) - 1.0 for i in range(n)]
    for _ in range(64):
        changed = False
        for i in range(n - 1, -1, -1):
            if not outs[i]:
                continue
            hi = min(rank[k] for k in outs[i]) - 1
            lo = 1 + max(rank[j] for j in ins[i]) if ins[i] else None
            balance = balance_of[i]
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
    """A Fenwick tree of weights by key, for crossing counts in O(E log E)."""

    __slots__ = ("tree",)

    def __init__(self, size):
        self.tree = [0] * (size + 1)

    def add(self, i, w):
        i += 1
        tree = self.tree
        while i < len(tree):
            tree[i] += w
            i += i & -i

    def sum_le(self, i):
        i += 1
        s = 0
        tree = self.tree
        while i > 0:
            s += tree[i]
            i -= i & -i
        return s


def count_crossings(layers, pos, down, port_scale, weight=None, cache=None):
    """Crossings between adjacent ranks. ``down[x]`` lists (target, port);
    an edge's end on the lower rank is ordered by (target position, port).
    With ``weight`` (per node, for the edges leaving it), a crossing counts
    the product of its two edges' weights. ``cache`` (a dict kept between
    calls with the same graph) skips the pairs of ranks whose order did not
    change since the last call."""
    total = 0
    for r in range(len(layers) - 1):
        top, bottom = layers[r], layers[r + 1]
        if cache is not None:
            hit = cache.get(r)
            if hit is not None and hit[0] == top and hit[1] == bottom:
                total += hit[2]
                continue
            c = _pair_crossings(top, pos, down, port_scale, weight)
            cache[r] = (list(top), list(bottom), c)
        else:
            c = _pair_crossings(top, pos, down, port_scale, weight)
        total += c
    return total


def _pair_crossings(top, pos, down, port_scale, weight):
    """The crossings between the edges leaving rank ``top`` (in order)."""
    keys = []
    for t in top:
        w = 1 if weight is None else weight[t]
        keys.extend((k, w) for k in sorted(pos[b] * port_scale + p for b, p in down[t]))
    # most rank pairs of a large graph have no crossing at all
    if all(keys[i][0] <= keys[i + 1][0] for i in range(len(keys) - 1)):
        return 0
    ranks = {k: i for i, k in enumerate(sorted({k for k, _ in keys}))}
    bit = _Bit(len(ranks))
    total = before = 0
    for k, w in keys:
        rk = ranks[k]
        total += w * (before - bit.sum_le(rk))   # earlier ends strictly right of this one
        bit.add(rk, w)
        before += w
    return total


def _initial_order(n_all, rank, up, roots, n_ranks, reverse=False):
    """Depth-first from the roots through inputs in port order (or reversed);
    each rank lists its nodes in the order they finish."""
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


def _set_positions(layers, pos):
    for layer in layers:
        for i, x in enumerate(layer):
            pos[x] = i


class _Ordering:
    """Orders the ranks of a layered graph to have few crossings.

    ``up[x]``: (node on the rank before, port at x); ``down[x]``: (node on the
    rank after, port at it); ``weight[x]``: how much a crossing of an edge
    leaving x costs: an edge from a leaf (or a long edge from one) counts 1,
    other edges 2, so that when two orders tie, crossings among the inputs'
    fan-out are preferred to crossings inside the expression.
    """

    def __init__(self, up, down, nports, weight):
        self.up, self.down, self.nports, self.weight = up, down, nports, weight
        self.port_scale = max(nports, default=1) + 1
        self.cache = {}

    def cost(self, layers, pos):
        return count_crossings(layers, pos, self.down, self.port_scale, self.weight, self.cache)

    def sweep(self, layers, pos, downward):
        """Sort each rank by the median position of its neighbours on the
        rank placed just before (the mean breaks ties); a node without such
        neighbours keeps its place."""
        nports = self.nports
        rng = range(1, len(layers)) if downward else range(len(layers) - 2, -1, -1)
        for r in rng:
            layer = layers[r]
            keyed = []
            for x in layer:
                nb = self.up[x] if downward else self.down[x]
                if nb:
                    if downward:
                        vals = sorted(pos[y] for y, _ in nb)
                    else:
                        vals = sorted(pos[z] + _port_shift(p, nports[z]) for z, p in nb)
                    m = len(vals)
                    med = vals[m // 2] if m % 2 else (vals[m // 2 - 1] + vals[m // 2]) / 2.0
                    keyed.append((med, sum(vals) / m, pos[x], x))
                else:
                    keyed.append((float(pos[x]), float(pos[x]), pos[x], x))
            keyed.sort()
            layer[:] = [k[-1] for k in keyed]
            for i, x in enumerate(layer):
                pos[x] = i

    def pair_costs(self, a, b, pos):
        """The crossings among the edges of ``a`` and ``b`` (weighted) with
        ``a`` left of ``b``, and with ``b`` left of ``a``."""
        weight = self.weight
        up_a, up_b, down_a, down_b = self.up[a], self.up[b], self.down[a], self.down[b]
        if len(up_a) == len(up_b) == len(down_a) == len(down_b) == 1:
            # one edge on each side (mostly dummies of long edges): compare directly
            pa, pb = pos[up_a[0][0]], pos[up_b[0][0]]
            w = weight[up_a[0][0]] * weight[up_b[0][0]]
            ab, ba = (w, 0) if pa > pb else (0, w) if pa < pb else (0, 0)
            ka, kb = (pos[down_a[0][0]], down_a[0][1]), (pos[down_b[0][0]], down_b[0][1])
            w = weight[a] * weight[b]
            return (ab + w, ba) if ka > kb else (ab, ba + w) if ka < kb else (ab, ba)
        ab = ba = 0
        ub = [(pos[y], weight[y]) for y, _ in up_b]
        if ub:
            for y, _ in up_a:
                pa, wa = pos[y], weight[y]
                for pb, wb in ub:
                    if pa > pb:
                        ab += wa * wb
                    elif pa < pb:
                        ba += wa * wb
        db = [(pos[z], p) for z, p in down_b]
        if db:
            wab = weight[a] * weight[b]
            for z, p in down_a:
                ka = (pos[z], p)
                for kb in db:
                    if ka > kb:
                        ab += wab
                    elif ka < kb:
                        ba += wab
        return ab, ba

    def transpose(self, layers, pos, max_passes, equal=False):
        """Swap neighbours in a rank while that removes crossings; with
        ``equal``, the first pass also swaps pairs that cross as much either
        way (a shake that lets the next sweep leave a plateau)."""
        # After the first pass, only ranks next to a swap can gain from one:
        # a pair's crossings depend on its rank and the two beside it only.
        todo = range(len(layers))
        for k in range(max_passes):
            improved = False
            swapped = set()
            for r in todo:
                layer = layers[r]
                for i in range(len(layer) - 1):
                    a, b = layer[i], layer[i + 1]
                    c_ab, c_ba = self.pair_costs(a, b, pos)
                    if c_ab > c_ba or (equal and k == 0 and c_ab == c_ba and c_ab > 0):
                        layer[i], layer[i + 1] = b, a
                        pos[a], pos[b] = i + 1, i
                        improved = improved or c_ab > c_ba
                        swapped.add(r)
            if not improved:
                break
            todo = sorted({q for r in swapped for q in (r - 1, r, r + 1)
                           if 0 <= q < len(layers)})

    def improve(self, layers, pos, max_iter, max_passes):
        """Sweeps down and up, each followed by transpositions, keeping the
        order of least cost; returns (order, cost)."""
        best = [list(layer) for layer in layers]
        best_c = self.cost(layers, pos)
        stale = 0
        for it in range(max_iter):
            if best_c == 0:
                break
            improved = False
            for downward in (True, False):
                self.sweep(layers, pos, downward)
                self.transpose(layers, pos, max_passes, equal=it % 2 == 1)
                c = self.cost(layers, pos)
                if c < best_c:
                    best, best_c, improved = [list(layer) for layer in layers], c, True
            stale = 0 if improved else stale + 1
            if stale >= 3:
                break
        return best, best_c


def _order(n_all, lrank, up, down, nports, weight, roots, n_ranks):
    """Layers (lists of nodes, left to right) with few crossings: the best of
    two depth-first starts (inputs in port order, and reversed), each improved
    by sweeps and transpositions (less effort for graphs too big to read
    anyway). Returns (layers, pos, crossings)."""
    ordering = _Ordering(up, down, nports, weight)
    pos = [0] * n_all
    best, best_c = None, None
    small = n_all <= 1000
    for reverse in ((False, True) if small else (False,)):
        layers = _initial_order(n_all, lrank, up, roots, n_ranks, reverse)
        _set_positions(layers, pos)
        order, c = ordering.improve(layers, pos, 12 if small else 4, 12 if small else 3)
        if best is None or c < best_c:
            best, best_c = order, c
        if best_c == 0:
            break
    _set_positions(best, pos)
    return best, pos, count_crossings(best, pos, down, ordering.port_scale)


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
    g = _Layered(n, edges, sizes)                                    # steps 1 and 2
    roots = [i for i in range(n - 1, -1, -1) if not g.outs[i]]
    layers, pos, crossings = _order(len(g.lrank), g.lrank, g.up, g.down, g.nports, g.weight,
                                    roots, g.n_ranks)                # step 3
    u, width = _across(g, layers, node_gap, edge_gap)               # step 4
    vr, thick, height = _along(g, layers, sizes, rank_gap)
    paths = _edge_paths(g, edges, sizes, u, vr, thick, port_span, port_max)
    centers = [(u[i], vr[g.rank[i]]) for i in range(n)]
    return Layout(centers, [(float(a), float(b)) for a, b in sizes], g.rank, paths,
                  (width, height), crossings)


class _Layered:
    """The graph by ranks: the real nodes 0..n-1 (``ins``, ``outs``, ``rank``),
    then the dummies of long edges, with every node's neighbours on the rank
    before (``up``: (node, port at self)) and after (``down``: (node, port at
    it)), its ``nports``, ``across`` size, ``weight`` (see ``_Ordering``) and
    ``lrank``; ``trunks[s]`` the dummies of source ``s`` and ``spans[k]`` how
    many of them edge ``k`` runs through."""

    def __init__(self, n, edges, sizes):
        self.ins = ins = [[] for _ in range(n)]
        self.outs = outs = [[] for _ in range(n)]
        self.nports = [0] * n
        for s, d, p in edges:
            ins[d].append(s)
            outs[s].append(d)
            self.nports[d] = max(self.nports[d], p + 1)
        self.rank = _assign_ranks(n, ins, outs)
        self.n_ranks = (max(self.rank) + 1) if n else 0
        self.lrank = list(self.rank)
        self.across = [float(a) for a, _ in sizes]
        self.dummy = [False] * n
        self.weight = [1 if not ins[i] else 2 for i in range(n)]
        self.up = [[] for _ in range(n)]
        self.down = [[] for _ in range(n)]
        # Edges from one source share their dummies (a trunk down to the source's
        # deepest result, branching off where each result is): a leaf used at
        # every step of a chain of n steps costs n dummies, not n^2 / 2.
        self.trunks = {}
        self.spans = []
        for s, d, p in edges:
            trunk = self.trunks.setdefault(s, [])
            need = self.rank[d] - self.rank[s] - 1
            while len(trunk) < need:
                trunk.append(self._dummy(trunk[-1] if trunk else s, self.rank[s] + 1 + len(trunk),
                                         self.weight[s]))
            last = trunk[need - 1] if need else s
            self.up[d].append((last, p))
            self.down[last].append((d, p))
            self.spans.append(need)

    def _dummy(self, prev, rank, weight):
        x = len(self.lrank)
        self.lrank.append(rank)
        self.across.append(0.0)
        self.dummy.append(True)
        self.up.append([(prev, 0)])
        self.down.append([])
        self.nports.append(1)
        self.weight.append(weight)
        self.down[prev].append((x, 0))
        return x


# ------------------------------------------------------------- across ranks

def _across(g, layers, node_gap, edge_gap):
    """Step 4: each node's position ``u`` across its rank, and the width."""
    n_all, dummy, across = len(g.lrank), g.dummy, g.across
    seps = []
    u = [0.0] * n_all
    for layer in layers:
        s = [(across[a] + across[b]) / 2.0 + (edge_gap if dummy[a] or dummy[b] else node_gap)
             for a, b in zip(layer, layer[1:])]
        seps.append(s)
        x = -sum(s) / 2.0
        for i, node in enumerate(layer):
            u[node] = x
            if i < len(s):
                x += s[i]
    pull = _Pull(g, layers, seps, u)
    # sweeps until a round moves nothing by more than a tenth of a pixel
    for _ in range(8):
        before = list(u)
        for r in range(1, g.n_ranks):
            pull(r, True, False)
        for r in range(g.n_ranks - 2, -1, -1):
            pull(r, False, True)
        if max(map(abs, map(sub, u, before)), default=0.0) < 0.1:
            break
    for _ in range(4):
        before = list(u)
        for r in range(g.n_ranks):
            pull(r, True, True)
        if max(map(abs, map(sub, u, before)), default=0.0) < 0.1:
            break
    left = min((u[x] - across[x] / 2.0 for x in range(n_all)), default=0.0)
    u = [v - left for v in u]
    return u, max((u[x] + across[x] / 2.0 for x in range(n_all)), default=0.0)


class _Pull:
    """``pull(r, use_up, use_down)`` moves the nodes of rank ``r`` (in ``u``)
    toward their neighbours on the ranks before and after, keeping their
    order and gaps.

    A leaf used once ("hanging") can sit anywhere beside its consumer: it
    does not pull on a consumer that has other inputs, and gives way to its
    neighbours, so chains stay straight instead of drifting sideways. A
    trunk that branches (a "bus") is pulled along itself only, and does not
    pull the results it feeds, for the same reason. Long edges weigh more
    (``_omega``), so they run straight."""

    def __init__(self, g, layers, seps, u):
        self.layers, self.seps, self.u = layers, seps, u
        n_all, dummy = len(g.lrank), g.dummy
        self.hanging = hanging = [False] * n_all
        for i in range(len(g.ins)):
            hanging[i] = not g.ins[i] and len(g.outs[i]) == 1
        bus = [dummy[x] and len(g.down[x]) > 1 for x in range(n_all)]
        # the neighbours that pull each node, with their weights, computed once
        self.pull_up, self.pull_down = [], []
        for x in range(n_all):
            ups = [y for y, _ in g.up[x]]
            strong = [y for y in ups if not hanging[y] and not bus[y]]
            self.pull_up.append([(y, _omega(dummy, x, y)) for y in (strong or ups)])
            downs = [z for z, _ in g.down[x]]
            if bus[x]:
                downs = [z for z in downs if dummy[z]] or downs
            self.pull_down.append([(z, _omega(dummy, x, z)) for z in downs])
        self.slack = [1e-3 if hanging[x] else 1.0 for x in range(n_all)]

    def __call__(self, r, use_up, use_down):
        layer, u = self.layers[r], self.u
        if not layer:
            return
        desired, weight = [], []
        for x in layer:
            tot = wsum = 0.0
            if use_up:
                for y, w in self.pull_up[x]:
                    tot += w * u[y]
                    wsum += w
            if use_down:
                for z, w in self.pull_down[x]:
                    tot += w * u[z]
                    wsum += w
            if wsum:
                desired.append(tot / wsum)
                weight.append(wsum * self.slack[x])
            else:
                desired.append(u[x])
                weight.append(1e-3 if self.hanging[x] else 0.25)
        for x, v in zip(layer, _project(desired, weight, self.seps[r])):
            u[x] = v


def _omega(dummy, a, b):
    return 8.0 if dummy[a] and dummy[b] else (2.0 if dummy[a] or dummy[b] else 1.0)


# ---------------------------------------------------------- along the edges

def _along(g, layers, sizes, rank_gap):
    """Each rank's position ``vr`` along the edges, its thickness, and the height."""
    n_ranks = g.n_ranks
    thick = [0.0] * n_ranks
    for i in range(len(g.rank)):
        thick[g.rank[i]] = max(thick[g.rank[i]], float(sizes[i][1]))
    # Where many edges run between two ranks (a dense layer of a model), the
    # gap grows, up to three times, so that they fan out instead of merging.
    gaps = []
    for r in range(n_ranks - 1):
        segments = sum(len(g.down[x]) for x in layers[r])
        per_node = segments / max(len(layers[r]), len(layers[r + 1]), 1)
        gaps.append(rank_gap * (1.0 + min(2.0, max(0.0, per_node - 2.0) / 4.0)))
    vr = [0.0] * n_ranks
    for r in range(n_ranks):
        if r == 0:
            vr[r] = thick[0] / 2.0
        else:
            vr[r] = vr[r - 1] + thick[r - 1] / 2.0 + gaps[r - 1] + thick[r] / 2.0
    return vr, thick, (vr[-1] + thick[-1] / 2.0) if n_ranks else 0.0


def _edge_paths(g, edges, sizes, u, vr, thick, port_span, port_max):
    """The points of each edge. Edges bend only between the rank bands: they
    leave a node straight to the bottom of its band, cross a band straight
    where they pass a rank, and enter the target's band straight, so no curve
    sweeps over a node. A trunk is drawn once, by the source's longest edge;
    its other edges start where they branch off it. Edges enter a node at
    ports spread along up to ``port_span`` of its side, ``port_max`` apart."""
    rank, lrank, spans = g.rank, g.lrank, g.spans
    longest = {}
    for k, (s, d, p) in enumerate(edges):
        if spans[k] > spans[longest.get(s, k)]:
            longest[s] = k
        longest.setdefault(s, k)
    paths = []
    for k, (s, d, p) in enumerate(edges):
        rs, rd = rank[s], rank[d]
        trunk = g.trunks[s]
        if spans[k] and longest[s] != k:
            x = trunk[spans[k] - 1]
            r = lrank[x]
            pts = [(u[x], vr[r] + thick[r] / 2.0)]
        else:
            pts = [(u[s], vr[rs] + sizes[s][1] / 2.0)]
            if sizes[s][1] < thick[rs]:
                pts.append((u[s], vr[rs] + thick[rs] / 2.0))
            for x in trunk[:spans[k]]:
                r = lrank[x]
                if thick[r] > 0:
                    pts.append((u[x], vr[r] - thick[r] / 2.0))
                    pts.append((u[x], vr[r] + thick[r] / 2.0))
                else:
                    pts.append((u[x], vr[r]))
        ports, offset = g.nports[d], 0.0
        if ports > 1:
            offset = (p / (ports - 1) - 0.5) * min(g.across[d] * port_span, port_max * (ports - 1))
        end = u[d] + offset
        if sizes[d][1] < thick[rd]:
            pts.append((end, vr[rd] - thick[rd] / 2.0))
        pts.append((end, vr[rd] - sizes[d][1] / 2.0))
        paths.append(pts)
    return paths
