"""Born-Oppenheimer energy surfaces E(positions, lattice) and analytic model potentials.

A :class:`Surface` is one interface for every source of energies: analytic
model potentials written in JAX (harmonic, the NDCO coupled oscillators of
Zhang, Wang & Wang, J. Chem. Phys. 161, 024103 (2024), quartic oscillators),
any ASE calculator (:mod:`qsolid.nct.ase_surface`) and a DeePMD model file
(:mod:`qsolid.nct.dp_surface`, needing the optional ``qsolid[deepmd]`` extra).

Conventions (atomic units): ``positions`` is an (n_sites, dim) array in bohr
(dim = 3 for crystals, dim = 1 for model systems, whose "sites" are the
coordinates), ``lattice`` a 3x3 array whose rows are the lattice vectors or None,
the energy is in hartree. ``energy`` is JAX-traceable for every surface (host
calculators enter through ``jax.pure_callback``); ``differentiable`` says
whether JAX autodiff through it is valid. The virial is W = -dE/d(epsilon) for
the homogeneous strain x -> x (1 + epsilon) of positions and cell together,
so that the static pressure is tr(W) / (3 Omega).
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Surface:
    """An energy surface E(positions, lattice) in hartree; see the module docstring."""

    energy: Callable
    differentiable: bool
    forces_virial: Callable | None = None
    """Host function (positions, lattice) -> (E, F, W) for surfaces without autodiff."""
    name: str = "surface"


def energy_forces_virial(surface: Surface, positions, lattice):
    """Energy, forces -dE/dx and virial W = -dE/d(epsilon) at one configuration.

    For a differentiable surface W_ab = -(sum_i x_ia dE/dx_ib + sum_k L_ka dE/dL_kb),
    the derivative of E(x (1 + eps), L (1 + eps)) at eps = 0.
    """
    if not surface.differentiable:
        return _host_forces_virial(surface, positions, lattice)
    if lattice is None:
        energy, grad = jax.value_and_grad(surface.energy)(positions, None)
        return energy, -grad, -(positions.T @ grad)
    energy, (grad_x, grad_lattice) = jax.value_and_grad(surface.energy, argnums=(0, 1))(positions, lattice)
    virial = -(positions.T @ grad_x + lattice.T @ grad_lattice)
    return energy, -grad_x, virial


def _host_forces_virial(surface: Surface, positions, lattice):
    """surface.forces_virial through jax.pure_callback, so it also runs inside jit and vmap."""
    n, dim = positions.shape
    dtype = jnp.asarray(positions).dtype  # the run's precision (qsolid.precision)
    shapes = (jax.ShapeDtypeStruct((), dtype), jax.ShapeDtypeStruct((n, dim), dtype),
              jax.ShapeDtypeStruct((dim, dim), dtype))

    def host(x, *c):
        result = surface.forces_virial(np.asarray(x), np.asarray(c[0]) if c else None)
        return tuple(np.asarray(v, dtype) for v in result)

    arguments = (positions,) if lattice is None else (positions, lattice)
    return jax.pure_callback(host, shapes, *arguments, vmap_method="sequential")


def _coordinates(positions):
    return jnp.reshape(positions, (-1,))


def harmonic(frequencies) -> Surface:
    """V = sum_i omega_i^2 x_i^2 / 2 for unit masses (dimensionless model)."""
    omega2 = jnp.asarray(frequencies, dtype=float) ** 2

    def energy(positions, lattice=None):
        x = _coordinates(positions)
        return 0.5 * jnp.sum(omega2 * x**2)

    return Surface(energy=energy, differentiable=True, name="harmonic")


def ndco_frequencies(dimension: int):
    """omega_i^2 = i / 2, i = 1..D, of the NDCO benchmark."""
    return np.sqrt(np.arange(1, dimension + 1) / 2.0)


def ndco(dimension: int, coupling: float = 0.1) -> Surface:
    """N-dimensional coupled oscillators (NDCO).

    V = sum_i omega_i^2 q_i^2 / 2 + sum_{i>j} a sqrt(omega_i omega_j) q_i q_j,
    omega_i^2 = i / 2, a = ``coupling`` (Rakhuba & Oseledets 2016; Zhang, Wang &
    Wang 2024). Purely quadratic, so its normal modes solve it exactly.
    """
    omega = jnp.asarray(ndco_frequencies(dimension))
    couplings = coupling * jnp.sqrt(omega[:, None] * omega[None, :])
    strictly_lower = jnp.tril(jnp.ones((dimension, dimension)), k=-1)

    def energy(positions, lattice=None):
        q = _coordinates(positions)
        return 0.5 * jnp.sum(omega**2 * q**2) + q @ (couplings * strictly_lower) @ q

    return Surface(energy=energy, differentiable=True, name=f"ndco{dimension}")


def quartic(frequencies, quartic_coefficient: float, pair_coefficient: float = 0.0) -> Surface:
    """V = sum_i (omega_i^2 x_i^2 / 2 + lambda x_i^4) + gamma sum_{i<j} x_i^2 x_j^2."""
    omega2 = jnp.asarray(frequencies, dtype=float) ** 2

    def energy(positions, lattice=None):
        x = _coordinates(positions)
        x2 = x**2
        pairs = 0.5 * (jnp.sum(x2) ** 2 - jnp.sum(x2**2))
        return jnp.sum(0.5 * omega2 * x2 + quartic_coefficient * x2**2) + pair_coefficient * pairs

    return Surface(energy=energy, differentiable=True, name="quartic")
