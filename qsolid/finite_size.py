"""Two-body finite-size corrections of what twist averaging leaves (Chiesa, Ceperley, Martin &
Holzmann, PRL 97, 076404 (2006)).

Twist averaging removes the one-body (shell) error of a finite cell; the two-body error remains.
In N electrons at density n = N / Omega, the missing long-wavelength part of the exchange-
correlation hole and of the Jastrow's plasmon zero-point motion give, to leading order in 1/N,

    Delta V_N = Delta T_N = omega_p / (4 N)   per electron,   omega_p = sqrt(4 pi n) = sqrt(3 / r_s^3),

both to be added to the finite-cell value (the small-k limit of S(k) = k^2 / (2 omega_p) for the
potential; the Jastrow's 1/k^2 tail for the kinetic energy). For the cell, Delta E = omega_p / 2.
The pressure follows from the virial P = (2K + V) / (3 Omega):

    Delta P = (2 Delta T + Delta V) N / (3 Omega) = omega_p / (4 Omega),

which is also -d(Delta E)/d(Omega) at fixed N. These are leading-order values for a
homogeneous electron density; qsolid.structure_factor measures the potential part in the crystal
itself from S(k).
"""

import math

NAME = "two-body leading order: Delta T = Delta V = omega_p / (4 N) per electron (Chiesa et al. 2006)"
STRUCTURE_FACTOR_NAME = (
    "two-body, potential from S(k) on the smallest shell: Delta V = 2 pi N a / Omega with a = S(k_1) / k_1^2;"
    " kinetic to leading order, Delta T = omega_p / (4 N) per electron (Chiesa et al. 2006)"
)


def plasma_frequency_ha(n_electrons: int, volume_bohr3: float) -> float:
    """omega_p = sqrt(4 pi n) (hartree)."""
    return math.sqrt(4.0 * math.pi * n_electrons / volume_bohr3)


def two_body_energy_ha(n_electrons: int, volume_bohr3: float) -> float:
    """Delta T + Delta V for the whole cell: omega_p / 2 (hartree), to be added."""
    return 0.5 * plasma_frequency_ha(n_electrons, volume_bohr3)


def two_body_pressure_ha_bohr3(n_electrons: int, volume_bohr3: float) -> float:
    """Delta P = omega_p / (4 Omega) (hartree / bohr^3), to be added."""
    return plasma_frequency_ha(n_electrons, volume_bohr3) / (4.0 * volume_bohr3)
