"""The normalizing flow zeta = f_theta(z) of Eq. (6): a RealNVP with elementwise layers.

The flow acts on dimensionless phonon coordinates z_k = sqrt(omega_k) q_k, in
which the harmonic basis is a product of standard Hermite functions; since
scaling cancels in the Jacobian determinant, this is the paper's f_theta(q)
written in better-conditioned variables. Each of ``depth`` blocks is

1. an elementwise sinh-arcsinh bijection per mode,
   y = e^{-c} sinh(delta asinh(e^{c} x) + epsilon), delta = e^{log_delta} > 0,
   which can bend tails (|y| ~ |x|^delta);
2. an elementwise monotone sum of J tanh bumps per mode,
   y = x + (1/J) sum_j tanh(alpha_j) e^{-b_j} tanh(e^{b_j} x + c_j), whose slope
   is at least 1 - (1/J) sum_j |tanh alpha_j| > 0; it shapes the middle of the
   wavefunctions, so one-mode systems get a flexible bijection too. Its
   inverse is found by bisection (|y - x| <= (1/J) sum_j e^{-b_j}) followed by
   Newton steps; samples are never differentiated through the inverse;
3. two affine coupling layers (Dinh, Sohl-Dickstein & Bengio, "Density
   estimation using Real NVP", 2017) with complementary even/odd masks m:
   y = m x + (1 - m) [x exp(s(m x)) + t(m x)], s and t from a tanh MLP.

The last MLP layer, the sinh-arcsinh parameters and the bump amplitudes
alpha start at zero (bump widths e^{-b} and centres c are spread over the
quasi-phonon range), so the flow
is the identity at initialisation and the wavefunctions are the harmonic
ones. Functions are written for one walker; vmap adds the batch.
"""

import jax
import jax.numpy as jnp

from qsolid import dense


BUMPS = 8
_BISECTIONS = 60
_NEWTON_STEPS = 2


def _bumps_init(dimension: int) -> dict:
    centres = jnp.linspace(-3.0, 3.0, BUMPS)
    log_widths = jnp.log(jnp.tile(jnp.array([0.5, 1.0, 2.0, 4.0]), BUMPS // 4))
    return {
        "alpha": jnp.zeros((dimension, BUMPS)),
        "log_inverse_width": jnp.tile(-log_widths, (dimension, 1)),
        "centre": jnp.tile(centres, (dimension, 1)),
    }


def init(key, dimension: int, depth: int, hidden: int) -> dict:
    """Identity flow parameters for `dimension` modes and `depth` blocks."""
    elementwise = [
        {"log_scale": jnp.zeros(dimension), "log_delta": jnp.zeros(dimension), "epsilon": jnp.zeros(dimension)}
        | {"bumps": _bumps_init(dimension)}
        for _ in range(depth)
    ]
    couplings = []
    for key_layer in jax.random.split(key, 2 * depth):
        k1, k2 = jax.random.split(key_layer)
        couplings.append(
            [dense.init(k1, dimension, hidden), dense.init(k2, hidden, hidden), dense.init(k2, hidden, 2 * dimension, scale=0.0)]
        )
    return {"elementwise": elementwise, "couplings": couplings}


def _mask(dimension: int, parity: int):
    return (jnp.arange(dimension) % 2 == parity).astype(float)


def _shift_and_log_scale(layers, conditioning):
    h = conditioning
    for layer in layers[:-1]:
        h = jnp.tanh(dense.apply(layer, h))
    out = dense.apply(layers[-1], h)
    log_scale, shift = jnp.split(out, 2)
    return log_scale, shift


def _log_cosh(a):
    a = jnp.abs(a)
    return a + jnp.log1p(jnp.exp(-2.0 * a)) - jnp.log(2.0)


def _elementwise_forward(p, x):
    scale = jnp.exp(p["log_scale"])
    delta = jnp.exp(p["log_delta"])
    a = delta * jnp.arcsinh(scale * x) + p["epsilon"]
    log_jacobian = p["log_delta"] + _log_cosh(a) - 0.5 * jnp.log1p((scale * x) ** 2)
    return jnp.sinh(a) / scale, jnp.sum(log_jacobian)


def _elementwise_inverse(p, y):
    scale = jnp.exp(p["log_scale"])
    delta = jnp.exp(p["log_delta"])
    return jnp.sinh((jnp.arcsinh(scale * y) - p["epsilon"]) / delta) / scale


def _bumps_value_and_slope(p, x):
    rate = jnp.exp(p["log_inverse_width"])
    amplitude = jnp.tanh(p["alpha"]) / BUMPS
    inner = jnp.tanh(rate * x[:, None] + p["centre"])
    value = x + jnp.sum(amplitude / rate * inner, axis=1)
    slope = 1.0 + jnp.sum(amplitude * (1.0 - inner**2), axis=1)
    return value, slope


def _bumps_forward(p, x):
    value, slope = _bumps_value_and_slope(p, x)
    return value, jnp.sum(jnp.log(slope))


def _bumps_inverse(p, y):
    reach = jnp.sum(jnp.exp(-p["log_inverse_width"]), axis=1) / BUMPS

    def bisect(_, bracket):
        low, high = bracket
        middle = 0.5 * (low + high)
        above = _bumps_value_and_slope(p, middle)[0] > y
        return jnp.where(above, low, middle), jnp.where(above, middle, high)

    low, high = jax.lax.fori_loop(0, _BISECTIONS, bisect, (y - reach, y + reach))
    x = 0.5 * (low + high)
    for _ in range(_NEWTON_STEPS):
        value, slope = _bumps_value_and_slope(p, x)
        x = x - (value - y) / slope
    return x


def _coupling_forward(layers, mask, x):
    log_scale, shift = _shift_and_log_scale(layers, mask * x)
    log_scale, shift = (1.0 - mask) * log_scale, (1.0 - mask) * shift
    return mask * x + (1.0 - mask) * (x * jnp.exp(log_scale) + shift), jnp.sum(log_scale)


def _coupling_inverse(layers, mask, y):
    log_scale, shift = _shift_and_log_scale(layers, mask * y)
    return mask * y + (1.0 - mask) * (y - shift) * jnp.exp(-log_scale)


def forward(params, z):
    """zeta = f(z) and log|det d zeta / d z| for one walker, z of shape (D,)."""
    dimension = z.shape[0]
    log_det = 0.0
    for block, elementwise in enumerate(params["elementwise"]):
        z, ld = _elementwise_forward(elementwise, z)
        log_det += ld
        z, ld = _bumps_forward(elementwise["bumps"], z)
        log_det += ld
        for parity in (0, 1):
            z, ld = _coupling_forward(params["couplings"][2 * block + parity], _mask(dimension, parity), z)
            log_det += ld
    return z, log_det


def inverse(params, zeta):
    """z = f^{-1}(zeta) for one walker."""
    dimension = zeta.shape[0]
    for block in reversed(range(len(params["elementwise"]))):
        for parity in (1, 0):
            zeta = _coupling_inverse(params["couplings"][2 * block + parity], _mask(dimension, parity), zeta)
        zeta = _bumps_inverse(params["elementwise"][block]["bumps"], zeta)
        zeta = _elementwise_inverse(params["elementwise"][block], zeta)
    return zeta
