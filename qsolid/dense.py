"""Dense layers as pure functions over explicit parameters, for every network of every engine.

    init(key, fan_in, fan_out) -> {"w": (fan_in, fan_out) ~ scale N(0, 1/fan_in), "b": zeros}
    apply(params, x) = x @ w (+ b)

x @ w + b is the pattern kfac-jax's graph matcher registers as a (repeated) dense layer, so the
VMC networks built from it get KFAC blocks without manual registration.
"""

import jax
import jax.numpy as jnp
import numpy as np


def init(key, fan_in: int, fan_out: int, bias: bool = True, scale: float = 1.0) -> dict:
    """LeCun-normal weights times `scale` (0: a zero layer); a zero bias unless bias=False."""
    w = scale * jax.random.normal(key, (fan_in, fan_out)) / np.sqrt(max(fan_in, 1))
    return {"w": w, "b": jnp.zeros(fan_out)} if bias else {"w": w}


def apply(params: dict, x):
    y = x @ params["w"]
    return y + params["b"] if "b" in params else y
