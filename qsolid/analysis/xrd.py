"""Powder X-ray diffraction patterns through pymatgen, at a chosen wavelength and volume.

Default wavelength 0.4133 angstrom: a hard-X-ray synchrotron wavelength of the
kind used for diamond-anvil-cell diffraction of hydrogen (about 30 keV); it is
a typical value, not a number taken from the seed paper, so set the
experiment's own wavelength when comparing with data. Peak positions follow
Bragg's law, 2 theta = 2 arcsin(lambda / 2 d). Intensities are pymatgen's
(atomic form factors, structure factor, multiplicity and the Lorentz-
polarisation factor of an unpolarised beam), scaled so the strongest peak is
100; an isotropic Debye-Waller factor B = 8 pi^2 <u_x^2> can damp them.

The seed paper compares patterns at the experimental volume at 130 GPa,
2.156 angstrom^3 per atom (Ji et al. 2019): ``volume_per_atom_a3`` rescales the
cell isotropically (fractional coordinates fixed) before the calculation.
"""

import csv
import dataclasses

import numpy as np

from qsolid.analysis.crystal import Crystal
from qsolid.schema import ConfigError

DEFAULT_WAVELENGTH_ANGSTROM = 0.4133
"""Typical high-pressure synchrotron wavelength (30.0 keV)."""

EXPERIMENTAL_VOLUME_130GPA_A3 = 2.156
"""Volume per atom of hydrogen at 130 GPa (Ji et al., Nature 573, 558 (2019), via seed paper Sec. III B)."""

DEFAULT_TWO_THETA_RANGE_DEG = (2.0, 30.0)


@dataclasses.dataclass(frozen=True)
class PowderPattern:
    """Peaks of one powder pattern: 2 theta (deg), d (angstrom), intensity (max 100), hkl families."""

    label: str
    wavelength_angstrom: float
    volume_per_atom_a3: float
    two_theta_deg: np.ndarray
    d_angstrom: np.ndarray
    intensity: np.ndarray
    hkl: tuple
    multiplicity: tuple


def bragg_two_theta_deg(d_angstrom, wavelength_angstrom) -> np.ndarray:
    """Bragg angle 2 theta = 2 arcsin(lambda / 2 d) in degrees."""
    return np.degrees(2.0 * np.arcsin(wavelength_angstrom / (2.0 * np.asarray(d_angstrom))))


def debye_waller_b_a2(rms_displacement_angstrom: float) -> float:
    """Isotropic B = 8 pi^2 <u_x^2> from the 3D root-mean-square displacement (<u_x^2> = <|u|^2> / 3)."""
    return 8.0 * np.pi**2 * rms_displacement_angstrom**2 / 3.0


def powder_pattern(crystal: Crystal, wavelength_angstrom: float = DEFAULT_WAVELENGTH_ANGSTROM,
                   volume_per_atom_a3=None, two_theta_range_deg=DEFAULT_TWO_THETA_RANGE_DEG,
                   debye_waller_b=None, label: str = "") -> PowderPattern:
    """Powder pattern of a crystal, optionally rescaled to a volume per atom (angstrom^3)."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    if not wavelength_angstrom > 0:
        raise ConfigError(f"wavelength_angstrom: must be positive, got {wavelength_angstrom}")
    structure = crystal.to_pymatgen()
    if volume_per_atom_a3 is not None:
        if not volume_per_atom_a3 > 0:
            raise ConfigError(f"volume_per_atom_a3: must be positive, got {volume_per_atom_a3}")
        structure.scale_lattice(volume_per_atom_a3 * len(structure))
    factors = None
    if debye_waller_b is not None:
        factors = {element.symbol: float(debye_waller_b) for element in structure.composition.elements}
    calculator = XRDCalculator(wavelength=float(wavelength_angstrom), debye_waller_factors=factors)
    pattern = calculator.get_pattern(structure, scaled=True, two_theta_range=tuple(two_theta_range_deg))
    families = [[tuple(int(i) for i in family["hkl"]) for family in peak] for peak in pattern.hkls]
    return PowderPattern(
        label=label,
        wavelength_angstrom=float(wavelength_angstrom),
        volume_per_atom_a3=float(structure.volume / len(structure)),
        two_theta_deg=np.asarray(pattern.x, dtype=float),
        d_angstrom=np.asarray(pattern.d_hkls, dtype=float),
        intensity=np.asarray(pattern.y, dtype=float),
        hkl=tuple(" ".join("(" + ",".join(map(str, f)) + ")" for f in peak) for peak in families),
        multiplicity=tuple(sum(family["multiplicity"] for family in peak) for peak in pattern.hkls),
    )


def write_peak_table(pattern: PowderPattern, path) -> None:
    """CSV with columns two_theta_deg, d_angstrom, hkl, multiplicity, intensity."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["two_theta_deg", "d_angstrom", "hkl", "multiplicity", "intensity"])
        for row in zip(pattern.two_theta_deg, pattern.d_angstrom, pattern.hkl, pattern.multiplicity,
                       pattern.intensity):
            writer.writerow([f"{row[0]:.4f}", f"{row[1]:.5f}", row[2], row[3], f"{row[4]:.3f}"])


def broadened_profile(pattern: PowderPattern, two_theta_grid_deg, fwhm_deg: float = 0.1) -> np.ndarray:
    """Sum of Gaussians of the given full width at half maximum centred on the peaks (for plots)."""
    sigma = fwhm_deg / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    offsets = np.asarray(two_theta_grid_deg)[:, None] - pattern.two_theta_deg[None, :]
    return np.exp(-0.5 * (offsets / sigma) ** 2) @ pattern.intensity
