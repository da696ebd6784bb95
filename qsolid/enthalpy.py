"""The enthalpy G = E + P Omega, what every engine minimises over the cell at constant pressure.

VMC: E the ground-state energy of the cell (Eq. 5 of the seed paper; the P det L term of Eq. S3).
NCT: E the Helmholtz free energy F, G the Gibbs free energy (seed 003, Eq. 7). Atomic units: E in Ha,
Omega in bohr^3, P in Ha/bohr^3 (qsolid.units.gpa_to_ha_bohr3 at the edge).
"""


def enthalpy(energy_ha, volume_bohr3, pressure_ha_bohr3):
    """G = E + P Omega (Ha)."""
    return energy_ha + pressure_ha_bohr3 * volume_bohr3
