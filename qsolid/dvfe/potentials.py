"""Classical proton potentials V(X) on the torus and their virial.

``none``: V = 0 (the ideal gas, the check of the classical terms).

``gaussian``: a smooth periodic pair potential
    V(X) = sum_{I<J} v(x_I - x_J),   v(r) = eps sum_{n in {-1,0,1}^D} exp(-|r_mic + n L|^2 / (2 sigma^2)),
with r_mic the minimum-image displacement. Summing the 3^D images nearest
to r_mic makes v periodic and smooth up to the first neglected image, at
distance >= 3L/2: with sigma <= L/4 (checked by the config) the neglected
terms and the jumps at the cell faces are below eps e^{-18} ~ 1.5e-8 eps.
eps > 0 is repulsive, eps < 0 attractive.

Pressure: P = N k_B T / Omega - <dV/dOmega>, with dV/dOmega at fixed
fractional coordinates = (1 / (D Omega)) dV/dlambda, lambda scaling all
positions and the box (the potential's own parameters stay fixed).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from qsolid.ewald import ewald_energy, make_ewald


def gaussian_pair(displacement, box_length, strength, width):
    """v(r) of the image-summed Gaussian for displacements of shape (..., D)."""
    dimension = displacement.shape[-1]
    displacement = displacement - box_length * jnp.round(displacement / box_length)
    images = jnp.asarray(list(itertools.product((-1.0, 0.0, 1.0), repeat=dimension)), dtype=displacement.dtype)
    shifted = displacement[..., None, :] + box_length * images
    return strength * jnp.sum(jnp.exp(-jnp.sum(shifted**2, axis=-1) / (2.0 * width**2)), axis=-1)


def gaussian_pair_energy(positions, box_length, strength, width):
    """V(X) = sum_{I<J} v(x_I - x_J) of the image-summed Gaussian pair potential (Ha)."""
    n_particles = positions.shape[0]
    pair = gaussian_pair(positions[:, None, :] - positions[None, :, :], box_length, strength, width)
    upper = jnp.triu(jnp.ones((n_particles, n_particles), dtype=positions.dtype), k=1)
    return jnp.sum(upper * pair)


def coulomb_potential(n_atoms: int, box_length: float):
    """V(positions, box_length): the protons' bare Ewald energy in a neutralising background, Madelung
    self terms included (the one-component plasma; qsolid.ewald), Ha. Built for the cube of side
    box_length, valid for any cube (the sum's parameters scale with it)."""
    setup = make_ewald(np.eye(3) * box_length, np.ones(n_atoms))
    return lambda positions, box: ewald_energy(setup, box * jnp.eye(3, dtype=positions.dtype), positions / box)


def make_potential(kind: str, strength: float = 0.0, width: float = 1.0):
    """V(positions, box_length) -> energy in Ha, for one configuration."""
    if kind == "none":
        return lambda positions, box_length: jnp.zeros((), positions.dtype)
    if kind == "gaussian":
        return lambda positions, box_length: gaussian_pair_energy(positions, box_length, strength, width)
    raise ValueError(f"unknown potential kind {kind!r}")


def volume_derivative(potential, positions, box_length):
    """dV/dOmega at fixed fractional coordinates, Omega = L^D."""
    dimension = positions.shape[-1]
    scaled = jax.grad(lambda s: potential(s * positions, s * box_length))
    return scaled(jnp.ones((), positions.dtype)) / (dimension * box_length**dimension)
