"""The vibrational Hamiltonian in phonon coordinates (seed 003, Eq. 1).

H = sum_k -(1/2) d^2/dq_k^2 + V(x_0 + M^{-1/2} E q), with V the full
Born-Oppenheimer surface (its harmonic part and V_anh together). Walkers
live in dimensionless coordinates z_k = sqrt(omega_k) q_k, where the
kinetic operator is -(1/2) sum_k omega_k d^2/dz_k^2.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np

from qsolid.nct.phonons import Modes, Reference
from qsolid.nct.surfaces import Surface


@dataclasses.dataclass(frozen=True)
class Vibrations:
    """A surface expanded around a reference structure in its normal modes."""

    surface: Surface
    reference: Reference
    modes: Modes
    reference_energy: float

    @property
    def frequencies(self) -> np.ndarray:
        return self.modes.frequencies

    def displacements(self, z):
        """u = M^{-1/2} E q with q = z / sqrt(omega), shape (n_sites, dim), one walker."""
        q = z / jnp.sqrt(jnp.asarray(self.modes.frequencies))
        return jnp.reshape(jnp.asarray(self.modes.cartesian_matrix()) @ q, self.reference.positions.shape)

    def positions(self, z):
        return jnp.asarray(self.reference.positions) + self.displacements(z)

    def potential(self, z):
        """V at the configuration of walker z (hartree)."""
        lattice = None if self.reference.lattice is None else jnp.asarray(self.reference.lattice)
        return self.surface.energy(self.positions(z), lattice)
