"""Optimizers over leaf Vars: ``SGD`` and ``Adam``, with PyTorch's update rules.

    from regrad.optim import SGD
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    for k in range(100):
        opt.zero_grad()
        loss(model).backward()
        opt.lr = 1.0 - 0.9 * k / 100      # a schedule: every group's lr
        opt.step()

The constructors take PyTorch's arguments and defaults (``torch.optim.SGD`` and
``torch.optim.Adam`` of torch 2.13) and raise its errors for bad values. Left
out are the options about tensors and devices (``foreach``, ``fused``,
``capturable``, ``differentiable``) and tensor-valued hyperparameters.

Each parameter's update is the one of PyTorch's single-tensor implementation
(``_single_tensor_sgd``, ``_single_tensor_adam``), operation for operation, in
Python's float arithmetic: every multiply and add rounded on its own. PyTorch
does the same when it runs its portable kernels (``ATEN_CPU_CAPABILITY=default``)
and then gives the same bits; its AVX2/AVX-512 kernels fuse ``a + b*c`` into one
rounding (FMA) in ``add(alpha=)``, ``lerp`` and ``addcmul``, which moves results
by about an ulp per operation.

Two implementations of each step, with the same bits: the loops below (the
reference, for Vars of either engine), and ``regrad._optim``, which keeps the
parameters as a C array of nodes and the state as C arrays, and updates them in
one C loop. It is used when every parameter is a compiled Var.
"""
import math

from .ops import to_float

__all__ = ["Optimizer", "SGD", "Adam"]


class Optimizer:
    """Base class: parameter groups, ``zero_grad``, ``state_dict``. A subclass
    gives its hyperparameters' checks (``_validate``) and order (``_hyper``),
    its reference loop (``_PureKernel``), the name of its compiled kernel in
    ``regrad._optim`` (``_KERNEL``) and its state's keys (``_STATE_KEYS``).

    ``params``: an iterable of leaf Vars that require grad, or of dicts (one
    per parameter group: ``{"params": [...], "lr": ...}``, other keys default
    to the constructor's). ``param_groups`` is the list of those dicts, each
    holding its hyperparameters: change them between steps (``opt.lr = x``
    sets every group's ``lr``). A group's parameters are fixed when it is added.
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.param_groups = []
        self._kernels = []     # one per group: holds its parameters and their state
        self._engine = None    # the Var class every parameter belongs to
        if isinstance(params, _var_types()) or isinstance(params, (dict, str)) \
                or not hasattr(params, "__iter__"):
            raise TypeError("params must be an iterable of Vars or of dicts, not "
                            f"{type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict ``{"params": [Vars], <hyperparameter>: value, ...}``."""
        if not isinstance(group, dict):
            raise TypeError(f"a parameter group must be a dict, not {type(group).__name__}")
        if "params" not in group:
            raise ValueError("a parameter group needs a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, _var_types()) else list(params)
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"unknown hyperparameter(s) {sorted(unknown)} for "
                            f"{type(self).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            self._check_param(p)
            if id(p) in seen:
                raise ValueError("a parameter appears twice in the optimizer's groups")
            seen.add(id(p))
        if not params:
            raise ValueError("a parameter group has no parameters")
        full = {"params": params}
        for key, default in self.defaults.items():
            full[key] = group.get(key, default)
        self._validate(full)
        self._kernels.append(self._make_kernel(params))
        self.param_groups.append(full)

    def _check_param(self, p):
        types = _var_types()
        if not isinstance(p, types):
            raise TypeError(f"an optimizer can only optimize Vars, not {type(p).__name__}")
        if self._engine is None:
            self._engine = type(p)
        elif type(p) is not self._engine:
            raise TypeError("an optimizer's parameters must all be Vars of one engine "
                            "(compiled and pure Vars are mixed)")
        if p.op is not None:
            raise ValueError(f"can't optimize a result ({p.name}): parameters must be leaf Vars")
        if not p.req_grad:
            raise ValueError("can't optimize a Var that does not require grad "
                             "(make it with req_grad=True)")

    def _make_kernel(self, params):
        compiled = _compiled_optim()
        if compiled is not None and type(params[0]) is _compiled_var():
            return getattr(compiled, self._KERNEL)(params)
        return self._PureKernel(params)

    # ------------------------------------------------------------- user API
    @property
    def lr(self):
        """The learning rate, when every group has the same one."""
        rates = {group["lr"] for group in self.param_groups}
        if len(rates) != 1:
            raise AttributeError("the groups have different learning rates: "
                                 "read param_groups[i]['lr']")
        return rates.pop()

    @lr.setter
    def lr(self, value):
        for group in self.param_groups:
            self._validate(dict(group, lr=value))
        for group in self.param_groups:
            group["lr"] = value

    def zero_grad(self, set_to_none=True):
        """Reset the gradients, as PyTorch does: ``p.grad = None`` (the default;
        a parameter the next backward does not reach then has no gradient and
        ``step()`` leaves it alone), or with ``set_to_none=False`` 0.0 for every
        parameter that has a gradient (one without keeps None)."""
        for kernel in self._kernels:
            kernel.zero_grad(bool(set_to_none))

    def step(self, closure=None):
        """Update every parameter that has a gradient (``.grad`` not None);
        returns ``closure()`` (called first) when a closure is given."""
        loss = None if closure is None else closure()
        for group, kernel in zip(self.param_groups, self._kernels):
            kernel.step(*self._hyper(group))
        return loss

    def state_dict(self):
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``
        with parameters numbered across groups, as PyTorch's: plain floats, a
        copy. Loading it into an optimizer of either engine continues the run."""
        state, groups, index = {}, [], 0
        for group, kernel in zip(self.param_groups, self._kernels):
            entry = {key: value for key, value in group.items() if key != "params"}
            entry["params"] = list(range(index, index + len(group["params"])))
            groups.append(entry)
            for i in range(len(group["params"])):
                s = kernel.get_state(i)
                if s is not None:
                    state[index + i] = self._export_state(group, s)
            index += len(group["params"])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load what ``state_dict()`` returned (of an optimizer of the same
        kind with groups of the same sizes): hyperparameters and state."""
        try:
            groups, state = list(state_dict["param_groups"]), dict(state_dict["state"])
            sizes = [len(saved["params"]) for saved in groups]
        except (TypeError, KeyError, ValueError):
            raise ValueError("a state dict has 'state' (a dict) and 'param_groups' (dicts "
                             "with 'params')") from None
        if sizes != [len(group["params"]) for group in self.param_groups]:
            raise ValueError("the loaded state dict's parameter groups do not match the "
                             "optimizer's (their number or sizes differ)")
        updated = []
        for saved in groups:
            full = {"params": None}
            for key in self.defaults:
                if key not in saved:
                    raise ValueError(f"the loaded parameter group has no {key!r}")
                full[key] = saved[key]
            self._validate(full)
            updated.append(full)
        index = {i: (k, j) for k, saved in enumerate(groups)
                 for j, i in enumerate(saved["params"])}
        per_param = [[None] * len(group["params"]) for group in self.param_groups]
        for i, s in state.items():
            if i not in index:
                raise ValueError(f"the loaded state names parameter {i}, which no group holds")
            k, j = index[i]
            per_param[k][j] = self._check_state(s)
        for group, full, kernel, states in zip(self.param_groups, updated, self._kernels,
                                               per_param):
            for j, s in enumerate(states):
                kernel.set_state(j, s)
            full["params"] = group["params"]
            group.update(full)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for k, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {k} ({len(group['params'])} parameters)")
            lines += [f"    {key}: {value}" for key, value in group.items() if key != "params"]
        return "\n".join(lines + [")"])

    def _export_state(self, group, s):
        return s

    def _check_state(self, s):
        if not isinstance(s, dict) or set(s) - set(self._STATE_KEYS):
            raise ValueError(f"a {type(self).__name__} parameter state is a dict with keys "
                             f"among {self._STATE_KEYS}, not {s!r}")
        return {key: to_float(value, key) for key, value in s.items()}


# -------------------------------------------------------------------- SGD

class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum, as ``torch.optim.SGD``.

    For each parameter ``p`` whose gradient ``g`` is not None::

        g = -g                              if maximize
        g = g + weight_decay * p            if weight_decay != 0
        if momentum != 0:
            b = g                           on the parameter's first step
            b = b * momentum + (1 - dampening) * g   afterwards
            g = g + momentum * b            if nesterov, else g = b
        p = p - lr * g

    With the defaults this is ``p.val -= lr * p.grad``, to the bit.
    """
    _KERNEL = "SGDKernel"
    _STATE_KEYS = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
        self._validate(defaults)
        super().__init__(params, defaults)

    @staticmethod
    def _validate(group):
        lr = to_float(group["lr"], "lr")
        momentum = to_float(group["momentum"], "momentum")
        dampening = to_float(group["dampening"], "dampening")
        weight_decay = to_float(group["weight_decay"], "weight_decay")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if group["nesterov"] and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    @staticmethod
    def _hyper(group):
        return (to_float(group["lr"], "lr"), to_float(group["momentum"], "momentum"),
                to_float(group["dampening"], "dampening"),
                to_float(group["weight_decay"], "weight_decay"),
                bool(group["nesterov"]), bool(group["maximize"]))

    class _PureKernel:
        """The reference update: one parameter at a time, in Python floats."""

        def __init__(self, params):
            self.params = params
            self.buffers = [None] * len(params)   # None until the parameter's first step

        def step(self, lr, momentum, dampening, weight_decay, nesterov, maximize):
            buffers = self.buffers
            for i, p in enumerate(self.params):
                g = p.grad
                if g is None:          # no gradient: no update, no state (as in PyTorch)
                    continue
                if maximize:
                    g = -g
                if weight_decay != 0:
                    g = g + weight_decay * p.val
                if momentum != 0:
                    b = buffers[i]
                    b = g if b is None else b * momentum + (1 - dampening) * g
                    buffers[i] = b
                    g = g + momentum * b if nesterov else b
                p.val = p.val - lr * g

        def zero_grad(self, set_to_none):
            _zero_grad(self.params, set_to_none)

        def get_state(self, i):
            b = self.buffers[i]
            return None if b is None else {"momentum_buffer": b}

        def set_state(self, i, state):
            self.buffers[i] = None if not state else state["momentum_buffer"]


# -------------------------------------------------------------------- Adam

class Adam(Optimizer):
    """Adam (Kingma and Ba), as ``torch.optim.Adam``.

    For each parameter ``p`` whose gradient ``g`` is not None, with its own
    step count ``t`` (counting the steps it had a gradient)::

        g = -g                                  if maximize
        t = t + 1
        p = p * (1 - lr * weight_decay)         if decoupled_weight_decay (AdamW)
        g = g + weight_decay * p                if weight_decay != 0 otherwise
        m = lerp(m, g, 1 - beta1)               PyTorch's lerp formula
        v = v * beta2 + (1 - beta2) * g * g
        v_max = maximum(v_max, v)               if amsgrad (then used for v below)
        denom = sqrt(v) / (1 - beta2 ** t) ** 0.5 + eps
        p = p + (-(lr / (1 - beta1 ** t))) * m / denom
    """
    _KERNEL = "AdamKernel"
    _STATE_KEYS = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize,
                    "decoupled_weight_decay": decoupled_weight_decay}
        self._validate(defaults)
        super().__init__(params, defaults)

    @staticmethod
    def _validate(group):
        lr = to_float(group["lr"], "lr")
        eps = to_float(group["eps"], "eps")
        weight_decay = to_float(group["weight_decay"], "weight_decay")
        betas = group["betas"]
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise TypeError(f"betas must be a pair of numbers, not {betas!r}")
        beta1, beta2 = to_float(betas[0], "betas[0]"), to_float(betas[1], "betas[1]")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= beta1 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {beta1}")
        if not 0.0 <= beta2 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {beta2}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")

    @staticmethod
    def _hyper(group):
        betas = group["betas"]
        return (to_float(group["lr"], "lr"), to_float(betas[0], "betas[0]"),
                to_float(betas[1], "betas[1]"), to_float(group["eps"], "eps"),
                to_float(group["weight_decay"], "weight_decay"), bool(group["amsgrad"]),
                bool(group["maximize"]), bool(group["decoupled_weight_decay"]),
                _bias_corrections)

    def _export_state(self, group, s):
        if not group["amsgrad"]:
            del s["max_exp_avg_sq"]
        return s

    def _check_state(self, s):
        s = super()._check_state(s)
        if not {"step", "exp_avg", "exp_avg_sq"} <= set(s):
            raise ValueError(f"an Adam parameter state needs step, exp_avg and exp_avg_sq: {s!r}")
        if not (math.isfinite(s["step"]) and s["step"] >= 1 and s["step"] == int(s["step"])):
            raise ValueError(f"an Adam parameter state's step is a count >= 1, not {s['step']}")
        if s["exp_avg_sq"] < 0 or s.get("max_exp_avg_sq", 0.0) < 0:
            raise ValueError("an Adam parameter state's second moments are >= 0")
        return s

    class _PureKernel:
        """The reference update: one parameter at a time, in Python floats."""

        def __init__(self, params):
            n = len(params)
            self.params = params
            self.steps = [0.0] * n       # 0: no state yet
            self.exp_avg = [0.0] * n
            self.exp_avg_sq = [0.0] * n
            self.max_exp_avg_sq = [0.0] * n

        def step(self, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled,
                 bias_corrections):
            weight = 1 - beta1     # lerp's weight: PyTorch computes it so, then branches on it
            for i, p in enumerate(self.params):
                g = p.grad
                if g is None:          # no gradient: no update, no state (as in PyTorch)
                    continue
                if maximize:
                    g = -g
                t = self.steps[i] = self.steps[i] + 1.0
                if weight_decay != 0:
                    if decoupled:
                        p.val = p.val * (1 - lr * weight_decay)
                    else:
                        g = g + weight_decay * p.val
                m = self.exp_avg[i]
                if abs(weight) < 0.5:
                    m = m + weight * (g - m)
                else:
                    m = g - (g - m) * (1 - weight)
                self.exp_avg[i] = m
                v = self.exp_avg_sq[i] = self.exp_avg_sq[i] * beta2 + (1 - beta2) * g * g
                step_size, bias_correction2_sqrt = bias_corrections(lr, beta1, beta2, t)
                if amsgrad:
                    v = self.max_exp_avg_sq[i] = _maximum(self.max_exp_avg_sq[i], v)
                denom = _divide(math.sqrt(v), bias_correction2_sqrt) + eps
                p.val = p.val + _divide(-step_size * m, denom)

        def zero_grad(self, set_to_none):
            _zero_grad(self.params, set_to_none)

        def get_state(self, i):
            if self.steps[i] == 0:
                return None
            return {"step": self.steps[i], "exp_avg": self.exp_avg[i],
                    "exp_avg_sq": self.exp_avg_sq[i], "max_exp_avg_sq": self.max_exp_avg_sq[i]}

        def set_state(self, i, state):
            state = state or {}
            self.steps[i] = state.get("step", 0.0)
            self.exp_avg[i] = state.get("exp_avg", 0.0)
            self.exp_avg_sq[i] = state.get("exp_avg_sq", 0.0)
            self.max_exp_avg_sq[i] = state.get("max_exp_avg_sq", 0.0)


# ----------------------------------------------------------------- helpers

def _zero_grad(params, set_to_none):
    for p in params:
        if set_to_none:
            p.grad = None
        elif p.grad is not None:
            p.grad = 0.0


def _bias_corrections(lr, beta1, beta2, t):
    """Adam's ``lr / (1 - beta1 ** t)`` and ``(1 - beta2 ** t) ** 0.5`` in Python
    floats, as PyTorch computes them, with its errors (beta1 == 1 divides by
    zero); both kernels' steps are given this function. The rest of the step is tensor arithmetic
    in PyTorch: IEEE, as ``_divide``."""
    bias_correction1 = 1 - beta1 ** t
    bias_correction2 = 1 - beta2 ** t
    if bias_correction2 < 0:          # PyTorch would go on with a complex number
        raise ValueError(f"Adam: 1 - beta2 ** step is negative (beta2 {beta2}, step {t:.0f}): "
                         "betas are in [0, 1]")
    return lr / bias_correction1, bias_correction2 ** 0.5


def _maximum(a, b):
    """``torch.maximum``: NaN if either is NaN (``max()`` would depend on the order)."""
    if a != a or b != b:
        return math.nan
    return a if a > b else b


def _divide(a, b):
    """``a / b`` in IEEE arithmetic (as C and PyTorch): no ZeroDivisionError."""
    if b == 0:
        if a == 0 or a != a:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _var_types():
    from . import pure
    compiled = _compiled_var()
    return (pure.Var,) if compiled is None else (pure.Var, compiled)


def _compiled_var():
    """The compiled engine's Var class, or None when it is not built."""
    try:
        from ._core import Var
    except ImportError:
        return None
    return Var


def _compiled_optim():
    """``regrad._optim``, or None when it is not built (then the loops above run)."""
    try:
        from . import _optim
    except ImportError:
        return None
    return _optim
