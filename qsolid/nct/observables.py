"""Observables beyond F and S: single-phonon excitations, phonon DOS, g(r).

Anharmonic frequencies (seed 003, Fig. 1c): w_k = E_{e_k} - E_0, the energy
of the state with one phonon in mode k above the variational ground state,
E_n = <Psi_n|H|Psi_n>. Both are sampled from the same quasi-phonon
coordinates (zeta_0 ~ |Phi_0|^2 with component k redrawn from |psi_1|^2), so
the paired difference has a small variance. The anharmonic zero-point energy
is sum_k w_k / 2.
"""

import jax
import jax.numpy as jnp
import numpy as np

from qsolid.nct import flow, mode_basis, sampling, wavefunction


def _local_energy(params, vibrations, occupation, zeta, levels, rotation):
    z = flow.inverse(params["flow"], zeta)
    kinetic, _ = wavefunction.local_kinetic(params["flow"], occupation, z, vibrations.frequencies, levels, rotation)
    return kinetic + vibrations.potential(z)


def excitation_energies(params, vibrations, key, walkers: int, sweeps: int, levels: int):
    """(w_k, error_k, E_0, error_0) from single-phonon states, errors as standard errors."""
    levels = max(levels, 2)
    dimension = vibrations.modes.count
    key_ground, key_excited = jax.random.split(key)
    rotation = mode_basis.rotations(params)
    ground = jnp.zeros((walkers, dimension), dtype=jnp.int32)
    zeta0, _ = sampling.metropolis(key_ground, sampling.initial_zeta(key_ground, ground), ground, 1.0, sweeps, levels, rotation)
    one = jnp.ones((walkers, dimension), dtype=jnp.int32)
    zeta1, _ = sampling.metropolis(key_excited, sampling.initial_zeta(key_excited, one), one, 1.0, sweeps, levels, rotation)
    energy = jax.jit(jax.vmap(lambda o, x: _local_energy(params, vibrations, o, x, levels, rotation)))
    e0 = energy(ground, zeta0)

    def excited(k):
        occupation = ground.at[:, k].set(1)
        zeta = zeta0.at[:, k].set(zeta1[:, k])
        return energy(occupation, zeta)

    differences = np.stack([np.asarray(excited(k) - e0) for k in range(dimension)])
    w = differences.mean(axis=1)
    error = differences.std(axis=1) / np.sqrt(walkers)
    return w, error, float(jnp.mean(e0)), float(jnp.std(e0) / np.sqrt(walkers))


def density_of_states(frequencies, grid, width: float):
    """Gaussian-broadened sum_k delta(w - w_k) on `grid`."""
    frequencies = np.asarray(frequencies)
    return np.sum(np.exp(-0.5 * ((grid[:, None] - frequencies[None, :]) / width) ** 2), axis=1) / (
        width * np.sqrt(2.0 * np.pi)
    )


def pair_distance_histogram(positions, lattice, edges):
    """Counts of minimum-image pair distances (i < j) of one configuration in bins `edges`."""
    n = positions.shape[0]
    inverse = jnp.linalg.inv(lattice)
    fractional = (positions[:, None, :] - positions[None, :, :]) @ inverse
    fractional = fractional - jnp.round(fractional)
    distance = jnp.linalg.norm(fractional @ lattice, axis=-1)
    upper = jnp.triu_indices(n, k=1)
    counts, _ = jnp.histogram(distance[upper], bins=edges)
    return counts


def radial_distribution(counts, edges, n_atoms: int, volume: float, configurations: int):
    """g(r) from accumulated pair counts: counts / (configurations * N(N-1)/2 * 4 pi r^2 dr / Omega)."""
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    ideal = configurations * 0.5 * n_atoms * (n_atoms - 1) * shell / volume
    return np.asarray(counts) / ideal


def minimum_image_radius(lattice) -> float:
    """Largest r for which minimum-image distances are exact: half the smallest cell height."""
    return 0.5 / float(np.max(np.linalg.norm(np.linalg.inv(lattice), axis=0)))


