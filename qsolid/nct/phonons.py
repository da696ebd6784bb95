"""Phonon coordinates: Hessian, mass-weighted normal modes, translations removed.

The dynamical matrix C = M^{-1/2} (d^2 V / du du) M^{-1/2} at the reference
structure (seed 003, text before Eq. 1) is diagonalised in the subspace
orthogonal to the rigid translations (for periodic cells), leaving
D = dim * n_sites - dim modes. Its eigenvalues are omega_k^2 and its
orthonormal eigenvectors e_k define the phonon coordinates
q_k = sum_i sqrt(M_i) e_k(i) . u_i, so that Eq. (1) holds:
H = sum_k (-d^2/dq_k^2 + omega_k^2 q_k^2) / 2 + V_anh(q).

The Hessian comes from autodiff where the surface is JAX-differentiable, and
otherwise from central differences of the forces with one Richardson step,
H = [4 D(h/2) - D(h)] / 3, D(h) = -[F(x + h e_j) - F(x - h e_j)] / 2h, whose
error is O(h^4); the default h = 0.01 bohr keeps the error of the soft bcc Li
modes far below 0.01 meV/atom.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from qsolid.nct.surfaces import Surface, energy_forces_virial

DEFAULT_STEP_BOHR = 0.01


class UnstableModes(ValueError):
    """The reference structure is not a minimum: some omega^2 <= 0."""


@dataclasses.dataclass(frozen=True)
class Reference:
    """The structure the phonons expand around: positions (n_sites, dim) in bohr,
    lattice vectors as rows in bohr (None for non-periodic model systems), masses (n_sites,) in m_e."""

    positions: np.ndarray
    lattice: np.ndarray | None
    masses: np.ndarray

    @property
    def periodic(self) -> bool:
        return self.lattice is not None


@dataclasses.dataclass(frozen=True)
class Modes:
    """Normal modes: frequencies omega_k (D,) and mass-weighted eigenvectors as columns."""

    frequencies: np.ndarray
    vectors: np.ndarray
    masses_per_coordinate: np.ndarray

    @property
    def count(self) -> int:
        return len(self.frequencies)

    def cartesian_matrix(self) -> np.ndarray:
        """The map q -> u = M^{-1/2} E q as a (dim * n_sites, D) matrix."""
        return self.vectors / np.sqrt(self.masses_per_coordinate)[:, None]


def autodiff_hessian(surface: Surface, reference: Reference) -> np.ndarray:
    shape = reference.positions.shape
    lattice = None if reference.lattice is None else jnp.asarray(reference.lattice)

    def energy(flat):
        return surface.energy(jnp.reshape(flat, shape), lattice)

    return np.asarray(jax.jit(jax.hessian(energy))(jnp.asarray(reference.positions).ravel()))


def finite_difference_hessian(forces, x0: np.ndarray, step: float = DEFAULT_STEP_BOHR) -> np.ndarray:
    """Central differences of `forces(flat_x) -> flat_F` with one Richardson extrapolation."""
    x0 = np.asarray(x0, dtype=np.float64).ravel()

    def central(h):
        columns = []
        for j in range(x0.size):
            shift = np.zeros_like(x0)
            shift[j] = h
            columns.append(-(forces(x0 + shift) - forces(x0 - shift)) / (2.0 * h))
        return np.stack(columns, axis=1)

    hessian = (4.0 * central(step / 2.0) - central(step)) / 3.0
    return 0.5 * (hessian + hessian.T)


def hessian(surface: Surface, reference: Reference, step: float = DEFAULT_STEP_BOHR) -> np.ndarray:
    """d^2 E / dx dx at the reference, flattened to (dim * n_sites, dim * n_sites)."""
    if surface.differentiable:
        return autodiff_hessian(surface, reference)
    shape = reference.positions.shape

    def forces(flat):
        return np.asarray(energy_forces_virial(surface, flat.reshape(shape), reference.lattice)[1]).ravel()

    return finite_difference_hessian(forces, reference.positions, step)


def _translation_complement(masses_per_coordinate: np.ndarray, dim: int) -> np.ndarray:
    """Orthonormal basis of the mass-weighted space orthogonal to the dim rigid translations."""
    n = masses_per_coordinate.size
    translations = np.zeros((n, dim))
    for alpha in range(dim):
        translations[alpha::dim, alpha] = np.sqrt(masses_per_coordinate[alpha::dim])
    full, _ = np.linalg.qr(np.linalg.qr(translations)[0], mode="complete")
    return full[:, dim:]


def normal_modes(hessian_matrix: np.ndarray, reference: Reference) -> Modes:
    """Diagonalise the dynamical matrix, dropping the translations of periodic cells.

    Raises UnstableModes (a ValueError) if a mode is unstable (omega^2 <= 0): the harmonic basis
    of Eq. (6) needs real frequencies.
    """
    dim = reference.positions.shape[1]
    masses = np.repeat(np.asarray(reference.masses, dtype=np.float64), dim)
    inv_sqrt_m = 1.0 / np.sqrt(masses)
    dynamical = inv_sqrt_m[:, None] * np.asarray(hessian_matrix) * inv_sqrt_m[None, :]
    dynamical = 0.5 * (dynamical + dynamical.T)
    basis = _translation_complement(masses, dim) if reference.periodic else np.eye(masses.size)
    omega2, vectors = np.linalg.eigh(basis.T @ dynamical @ basis)
    if np.any(omega2 <= 0.0):
        raise UnstableModes(f"{int(np.sum(omega2 <= 0))} unstable mode(s), lowest omega^2 = {omega2[0]:.3e}")
    return Modes(frequencies=np.sqrt(omega2), vectors=basis @ vectors, masses_per_coordinate=masses)
