"""Lowest free energy any point transformation reaches for the 1D quartic oscillator (Eq. 6 ansatz limit).

Psi_n(x) = Phi_n(f(x)) |f'(x)|^(1/2) with the harmonic-oscillator functions Phi_n and a monotone map f
far more flexible than the package's flow: log f' piecewise linear on KNOTS knots over [-9, 9] plus a
shift. E_n = <Psi_n|H|Psi_n> by quadrature (6001 points), the occupations at their optimum (Boltzmann
over E_n, exact for one mode), F = -T ln sum_n exp(-E_n/T) minimised with L-BFGS in float64.
Compare with benchmarks/nct_quartic1d_grid.py (the package's flow): if both reach the same F, the gap
to the exact F is the ansatz's, not the flow's.
Run: python benchmarks/nct_quartic1d_point_transform_limit.py BETA [KNOTS]
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from qsolid.nct import hermite

jax.config.update("jax_enable_x64", True)

LEVELS = 30
GRID = jnp.linspace(-9.0, 9.0, 6001)
SPACING = GRID[1] - GRID[0]
POTENTIAL = 0.5 * GRID**2 + 0.1 * GRID**4


def level_energies(params, knots):
    """E_n for n < LEVELS of the map with log f' interpolated through params[1:] at the knots."""
    log_slope = jnp.interp(GRID, knots, params[1:])
    slope = jnp.exp(log_slope)
    f = jnp.concatenate([jnp.zeros(1), jnp.cumsum(0.5 * (slope[1:] + slope[:-1]) * SPACING)])
    f = f - jnp.interp(0.0, GRID, f) + params[0]
    states = hermite.hermite_functions(f, LEVELS) * jnp.sqrt(slope)
    derivatives = jnp.gradient(states, SPACING, axis=1)
    return 0.5 * jnp.sum(derivatives**2, axis=1) * SPACING + jnp.sum(states**2 * POTENTIAL, axis=1) * SPACING


def main(beta: float, n_knots: int):
    knots = jnp.linspace(-9.0, 9.0, n_knots)

    def free_energy(params):
        return -jax.scipy.special.logsumexp(-beta * level_energies(params, knots)) / beta

    value_and_grad = jax.jit(jax.value_and_grad(free_energy))
    start = np.zeros(1 + n_knots)  # f = identity: the harmonic basis
    result = scipy.optimize.minimize(
        lambda p: [np.asarray(t, dtype=float) for t in value_and_grad(jnp.asarray(p))],
        start,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 3000},
    )
    energies = level_energies(jnp.asarray(result.x), knots)
    print(f"beta {beta} knots {n_knots}: F(identity) {float(free_energy(jnp.asarray(start))):.6f}")
    print(f"best F {result.fun:.6f}  E_0..E_3 {np.asarray(energies[:4]).round(6)}  ({result.message})")


if __name__ == "__main__":
    main(float(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 121)
