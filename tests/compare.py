"""The one float comparison the tests use."""
import math


def same(x, y, rel=0.0):
    """``x`` equals ``y`` to ``rel`` relative (exactly by default; zeros and
    infinities always exactly), NaN matching NaN, None matching None only."""
    if x is None or y is None:
        return x is y
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y or math.isclose(x, y, rel_tol=rel, abs_tol=0.0)
