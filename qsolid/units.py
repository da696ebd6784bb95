"""Physical constants and unit conversions (CODATA 2018), in one place.

Everything inside qsolid is in Hartree atomic units (bohr, Ha, electron mass);
GPa, angstrom, eV and kelvin appear only at the user's edge, converted here.
"""

BOHR_ANGSTROM = 0.529177210903
"""One bohr in angstrom."""

HARTREE_EV = 27.211386245988
"""One hartree in electronvolt."""

HARTREE_KELVIN = 315775.02480407
"""One hartree divided by Boltzmann's constant, in kelvin."""

HA_BOHR3_PA = 2.9421015697e13
"""One hartree per cubic bohr in pascal (the atomic unit of pressure)."""

GPA_PER_HA_BOHR3 = HA_BOHR3_PA * 1e-9
"""One hartree per cubic bohr in GPa: 29421.015697 GPa."""

ATOMIC_MASS_UNIT_ME = 1822.888486209
"""One unified atomic mass unit in electron masses."""

PROTON_MASS_ME = 1836.15267343
DEUTERON_MASS_ME = 3670.48296788
TRITON_MASS_ME = 5496.92153573

NUCLEAR_MASSES_ME = {"H": PROTON_MASS_ME, "D": DEUTERON_MASS_ME, "T": TRITON_MASS_ME}
"""Nuclear (not atomic) masses of the hydrogen isotopes, in electron masses."""


def gpa_to_ha_bohr3(pressure_gpa: float) -> float:
    return pressure_gpa / GPA_PER_HA_BOHR3


def ha_bohr3_to_gpa(pressure_ha_bohr3: float) -> float:
    return pressure_ha_bohr3 * GPA_PER_HA_BOHR3


def bohr_to_angstrom(length_bohr):
    return length_bohr * BOHR_ANGSTROM


def angstrom_to_bohr(length_angstrom):
    return length_angstrom / BOHR_ANGSTROM


def bohr3_to_angstrom3(volume_bohr3):
    return volume_bohr3 * BOHR_ANGSTROM**3


def angstrom3_to_bohr3(volume_angstrom3):
    return volume_angstrom3 / BOHR_ANGSTROM**3


def ha_to_ev(energy_ha):
    return energy_ha * HARTREE_EV


def ev_to_ha(energy_ev):
    return energy_ev / HARTREE_EV


def rs_from_volume(volume_per_electron_bohr3: float) -> float:
    """Wigner-Seitz radius r_s from (4 pi / 3) r_s^3 = V / N."""
    return (3.0 * volume_per_electron_bohr3 / (4.0 * 3.141592653589793)) ** (1.0 / 3.0)


def volume_from_rs(rs: float) -> float:
    """Volume per electron (bohr^3) at Wigner-Seitz radius r_s."""
    return 4.0 * 3.141592653589793 / 3.0 * rs**3
