"""Hartree-Fock energy of the plane-wave Slater determinant in a periodic cell (jellium).

For N electrons in a cell of volume Omega with a uniform neutralising
background, the Ewald (tin-foil) Coulomb energy is (qsolid.ewald)

    V = sum_{i<j} v_E(r_i - r_j) + N xi / 2,

with v_E(r) = (4 pi / Omega) sum_{G != 0} exp(i G . r) / G^2 the periodic
pair potential of zero cell average and xi = lim_{r->0} [v_E(r) - 1/r] the
Madelung self-image constant (xi = 2 x the Ewald energy of one unit charge in
its background; -2.837297 / L for a simple cube of side L). In the
determinant of plane waves k_a = (m_a + t) @ B per spin the density is
uniform, so the Hartree term vanishes with the background, and the exchange
term pairs orbitals whose difference k_a - k_b is a reciprocal-lattice vector:

    E_HF = sum_sigma sum_a |k_a|^2 / 2
         - (2 pi / Omega) sum_sigma sum_{a != b} 1 / |k_a - k_b|^2
         + N xi / 2.

Hence the exchange depends on the twist only through the occupied set, the
kinetic energy directly. This is the exact expectation value of the VMC
Hamiltonian in the `slater` ansatz, so the sampled energy must agree with it
within its error bar.
"""

import dataclasses

import numpy as np

from qsolid import lattice as lat
from qsolid.vmc.ansatz.slater import occupied_kpoints_lowest_exchange
from qsolid.ewald import coulomb_energy


@dataclasses.dataclass(frozen=True)
class HartreeFockEnergy:
    """Parts of the plane-wave determinant's energy per cell (Ha)."""

    kinetic: float
    exchange: float
    madelung: float
    n_electrons: int

    @property
    def total(self) -> float:
        return self.kinetic + self.exchange + self.madelung

    @property
    def per_electron(self) -> float:
        return self.total / self.n_electrons


def madelung_constant(lattice) -> float:
    """xi = lim_{r->0} [v_E(r) - 1/r] (1/bohr): twice the Ewald energy of one unit charge in its background."""
    return 2.0 * coulomb_energy(np.asarray(lattice, dtype=float), np.zeros((1, 3)), [1.0])


def hartree_fock_energy(lattice, n_up: int, n_down: int, twist=(0.0, 0.0, 0.0)) -> HartreeFockEnergy:
    """E_HF of the plane-wave determinant of the occupied k-set of `twist` (module docstring).

    The occupied set is the one of the `slater` ansatz (qsolid.vmc.ansatz.slater: an open outer shell is
    filled by its lowest-exchange subset).
    """
    lattice = np.asarray(lattice, dtype=float)
    reciprocal = lat.reciprocal(lattice)
    volume = float(lat.volume(lattice))
    kinetic = exchange = 0.0
    for count in (n_up, n_down):
        k = occupied_kpoints_lowest_exchange(lattice, twist, count) @ reciprocal
        kinetic += 0.5 * float(np.sum(k**2))
        difference = np.sum((k[:, None, :] - k[None, :, :]) ** 2, axis=-1)
        off_diagonal = ~np.eye(count, dtype=bool)
        exchange -= (2.0 * np.pi / volume) * float(np.sum(1.0 / difference[off_diagonal]))
    n = n_up + n_down
    return HartreeFockEnergy(kinetic, exchange, 0.5 * n * madelung_constant(lattice), n)


def twist_averaged_energy_per_electron(lattice, n_up: int, n_down: int, twists, weights) -> float:
    """sum_t w_t E_HF(t) / N over a twist set (qsolid.twists)."""
    energies = [hartree_fock_energy(lattice, n_up, n_down, t).per_electron for t in twists]
    return float(np.dot(weights, energies))


def thermodynamic_limit_per_electron(rs: float, spin_polarisation_fraction: float = 0.0) -> tuple[float, float]:
    """(kinetic, exchange) per electron of the infinite unpolarised or fully polarised HF gas (Ha).

    kinetic = (3/10) k_F^2, exchange = -(3 / 4 pi) k_F per electron, with
    k_F = (9 pi / 4)^(1/3) / r_s for the unpolarised gas; each spin with
    density fraction x has k_F,sigma = (2 x)^(1/3) k_F.
    """
    k_fermi = (9.0 * np.pi / 4.0) ** (1.0 / 3.0) / rs
    kinetic = exchange = 0.0
    for fraction in (0.5 * (1 + spin_polarisation_fraction), 0.5 * (1 - spin_polarisation_fraction)):
        k_sigma = (2.0 * fraction) ** (1.0 / 3.0) * k_fermi
        kinetic += fraction * 0.3 * k_sigma**2
        exchange -= fraction * 3.0 / (4.0 * np.pi) * k_sigma
    return kinetic, exchange
