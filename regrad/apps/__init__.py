"""Applications built on the library: the two-moons training job (``moons``),
the comparison report (``bench``), their pictures (``plot``) and the command
line that runs them (``main``, as ``python -m regrad``). The library never
imports this package."""
