"""The seed README's example, the graph many tests draw and differentiate."""


def seed_example(Var):
    """The seed README's example, built with ``Var`` (either engine's, or any
    class with the same operators): returns the leaves ``a``, ``b`` and the root ``g``."""
    a = Var(-4.0, req_grad=True)
    b = Var(2.0, req_grad=True)
    c_5 = Var(5)  # const
    c = a + b
    d = a * b + b ** 3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += c_5 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g += 10.0 / f
    return a, b, g
