"""Best free energy the NCT ansatz (Eq. 6 with this package's flow) reaches for the 1D quartic oscillator.

Deterministic: E_n = <Psi_n|H|Psi_n> by quadrature on a grid, occupations at their optimum (Boltzmann
over the diagonal energies, exact for one mode), F = -T ln sum_n exp(-E_n / T) minimised over the flow
parameters with Adam. This separates the limit of the ansatz from sampling and optimisation noise.
Prints the running F and the lowest four E_n.
Run: python benchmarks/nct_quartic1d_grid.py DEPTH BETA [STEPS]
"""

import sys

import jax
import jax.numpy as jnp
import optax

from qsolid.nct import flow, hermite

LEVELS = 24
GRID = jnp.linspace(-9.0, 9.0, 3001)
POTENTIAL = 0.5 * GRID**2 + 0.1 * GRID**4


def level_energies(params):
    """<Psi_n|H|Psi_n> for n < LEVELS, kinetic energy as (1/2) int |Psi_n'|^2."""
    spacing = GRID[1] - GRID[0]

    def states(x):
        zeta, log_det = flow.forward(params, x[None])
        return hermite.hermite_functions(zeta, LEVELS)[:, 0] * jnp.exp(0.5 * log_det)

    values = jax.vmap(states)(GRID)
    slopes = jax.vmap(jax.jacfwd(states))(GRID)
    return 0.5 * jnp.sum(slopes**2, axis=0) * spacing + jnp.sum(values**2 * POTENTIAL[:, None], axis=0) * spacing


def main(depth: int, beta: float, steps: int):
    def free_energy(params):
        return -jax.scipy.special.logsumexp(-beta * level_energies(params)) / beta

    params = flow.init(jax.random.PRNGKey(0), 1, depth, 8)
    optimizer = optax.adam(3e-3)
    state = optimizer.init(params)

    @jax.jit
    def step(params, state):
        value, grads = jax.value_and_grad(free_energy)(params)
        updates, state = optimizer.update(grads, state)
        return optax.apply_updates(params, updates), state, value

    for i in range(steps):
        params, state, value = step(params, state)
        if i % 500 == 0 or i == steps - 1:
            print(i, float(value), flush=True)
    print("E_0..E_3", level_energies(params)[:4])


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 3001)
