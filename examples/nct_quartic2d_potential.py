"""A model potential given as a Python function, for `[system] kind = "function"`.

The 2D coupled quartic oscillator of examples/nct_quartic2d_beta1.toml (hbar = m = k_B = 1),
V(x, y) = x^2/2 + (1.5)^2 y^2/2 + 0.1 (x^4 + y^4) + 0.05 x^2 y^2, written as a user would:
a JAX-traceable function of the flat coordinate vector q = (x, y), its minimum at q = 0.
"""


def coupled_quartic(q):
    x, y = q[0], q[1]
    return 0.5 * x**2 + 0.5 * 1.5**2 * y**2 + 0.1 * (x**4 + y**4) + 0.05 * x**2 * y**2
