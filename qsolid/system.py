"""The simulated system: cell, nuclei, electron counts and twists, built from the config.

Nuclear positions are stored in fractional coordinates (walkers will carry
them as quantum particles later); the lattice enters the physics only through
the Hamiltonian (Eq. S3).
"""

import dataclasses
from pathlib import Path

import numpy as np

from qsolid import lattice as lat
from qsolid import structures
from qsolid import twists as twist_sets
from qsolid.schema import ConfigError
from qsolid.units import NUCLEAR_MASSES_ME, volume_from_rs

MIN_PROTON_DISTANCE_BOHR = 0.5
"""Closer nuclei are rejected as a broken structure (H2 bonds are 1.4 bohr)."""


@dataclasses.dataclass(frozen=True)
class System:
    name: str
    lattice: np.ndarray
    """Simulation-cell lattice vectors as rows (bohr)."""
    nuclear_fractional: np.ndarray
    """(n_nuclei, 3) fractional positions."""
    nuclear_charges: np.ndarray
    n_up: int
    n_down: int
    twists: np.ndarray
    """(n_twists, 3) twists in fractions of the simulation cell's reciprocal vectors (qsolid.twists)."""
    twist_weights: np.ndarray
    """(n_twists,) weights of the twist average, summing to 1."""
    boundary_condition: str
    """The twist set in words, e.g. 'gamma' or 'monkhorst-pack 2x2x2 shifted, 1 irreducible twists'."""
    nuclear_masses: np.ndarray | None = None
    """(n_nuclei,) masses in electron masses for quantum nuclei; None when they are clamped."""
    is_molecule_in_box: bool = False

    @property
    def twist(self) -> np.ndarray:
        """The twist of a single-twist system (the engines that take one twist; a VMC run takes the whole set)."""
        if len(self.twists) != 1:
            raise ConfigError(f"system.twists: {self.boundary_condition} has several twists; this needs a single twist")
        return self.twists[0]

    @property
    def is_jellium(self) -> bool:
        return self.n_nuclei == 0

    @property
    def quantum_nuclei(self) -> bool:
        return self.nuclear_masses is not None

    @property
    def n_nuclei(self) -> int:
        return len(self.nuclear_fractional)

    @property
    def n_electrons(self) -> int:
        return self.n_up + self.n_down

    @property
    def volume_bohr3(self) -> float:
        return float(lat.volume(self.lattice))

    @property
    def nuclear_cartesian(self) -> np.ndarray:
        return lat.to_cartesian(self.nuclear_fractional, self.lattice)


def load_cell(config):
    name = config.structure
    if name in ("bcc", "fcc", "sc"):
        return structures.cubic(name, config.lattice_constant_bohr)
    if name == "pa3":  # rs sets the cube, so that the molecules keep bond_length_bohr
        a = (8 * volume_from_rs(config.rs)) ** (1 / 3) if config.rs > 0 else config.lattice_constant_bohr
        return structures.pa3(a, config.bond_length_bohr)
    if name == "cmcm":
        return structures.cmcm()
    if name == "h2-molecule":
        if config.bond_length_bohr >= 0.5 * config.box_bohr:
            raise ConfigError("system.bond_length_bohr: must be shorter than half of box_bohr")
        return structures.molecule_in_box(config.box_bohr, config.bond_length_bohr)
    if name == "h-atom":
        return structures.atom_in_box(config.box_bohr)
    path = Path(name)
    if not path.is_file():
        raise ConfigError(
            f"system.structure: '{name}' is neither a built-in structure ({', '.join(structures.BUILTIN)}) "
            "nor an existing file"
        )
    try:
        cell, fractional, symbols = structures.read_structure_file(path)
    except Exception as error:  # ASE raises many kinds of errors for unreadable files
        raise ConfigError(f"system.structure: cannot read '{name}': {error}".splitlines()[0]) from None
    if set(symbols) != {"H"}:
        raise ConfigError(f"system.structure: only hydrogen is supported, '{name}' has {sorted(set(symbols))}")
    return cell, fractional


def _electron_counts(config, n_electrons: int) -> tuple[int, int]:
    if (n_electrons - config.spin_polarisation) % 2 != 0:
        raise ConfigError(
            f"system.spin_polarisation: {n_electrons} electrons cannot have n_up - n_down = {config.spin_polarisation}"
        )
    if config.spin_polarisation > n_electrons:
        raise ConfigError(f"system.spin_polarisation: larger than the {n_electrons} electrons")
    n_down = (n_electrons - config.spin_polarisation) // 2
    return n_electrons - n_down, n_down


def build_jellium(config) -> System:
    """`electrons` electrons in a simple-cubic cell of volume N (4 pi / 3) rs^3 with a uniform background.

    There are no nuclei: the Ewald sum of the electrons alone includes the
    neutralising background (qsolid.ewald, Q != 0) and each electron's Madelung
    self-image term.
    """
    if config.nuclei == "quantum":
        raise ConfigError("system.nuclei: jellium has no nuclei; use 'clamped'")
    if config.supercell != (1, 1, 1):
        raise ConfigError("system.supercell: jellium sets its cell from rs and electrons; leave it at [1, 1, 1]")
    n_up, n_down = _electron_counts(config, config.electrons)
    lattice = np.eye(3) * (config.electrons * volume_from_rs(config.rs)) ** (1.0 / 3.0)
    twists = twist_sets.twist_set(_twist_spec(config), lattice, np.zeros((0, 3)), [])
    return System(
        name="jellium",
        lattice=lattice,
        nuclear_fractional=np.zeros((0, 3)),
        nuclear_charges=np.zeros(0),
        n_up=n_up,
        n_down=n_down,
        twists=twists.fractional,
        twist_weights=twists.weights,
        boundary_condition=twists.label,
    )


def default_twists(structure: str) -> str:
    """The boundary condition of `system.twists = "auto"` for a structure.

    A crystal gets the Baldereschi point: one twist, so the cost of a Gamma run, and in
    Hartree-Fock (docs/validation_twists.md, r_s = 1.31) within 5.1 (N = 54) and 9.1 mHa/electron
    (N = 16) of the 6x6x6 twist average, where Gamma is 31.5 and 61.4 mHa/electron off. An atom
    or molecule in a box is an isolated system, whose energy the twist changes only through the
    box's finite size, and Gamma keeps its wavefunction real. Jellium keeps Gamma, where its
    closed shells (N = 14, 38, 54, ...) and reference energies are defined.
    """
    return "gamma" if structure in structures.MOLECULAR_BOXES + ("jellium",) else "baldereschi"


def _twist_spec(config):
    """system.twists with "auto" resolved for the structure."""
    return default_twists(config.structure) if config.twists == "auto" else config.twists


def build_system(config, lattice_mode: str = "fixed") -> System:
    """The System described by a validated SystemConfig; raises ConfigError on physical nonsense.
    `lattice_mode` (npt.lattice_mode) limits the symmetry that reduces a twist grid (qsolid.twists)."""
    if config.structure == "jellium":
        return build_jellium(config)
    cell, fractional = load_cell(config)
    cell, fractional, _ = lat.supercell(cell, fractional, config.supercell)
    n_nuclei = len(fractional)
    if config.rs > 0:
        target = volume_from_rs(config.rs) * n_nuclei
        cell = cell * (target / lat.volume(cell)) ** (1.0 / 3.0)
    if n_nuclei > 1:
        closest = lat.minimum_distance(cell, fractional)
        if closest < MIN_PROTON_DISTANCE_BOHR:
            raise ConfigError(
                f"system.structure: nuclei overlap (closest pair {closest:.3g} bohr < {MIN_PROTON_DISTANCE_BOHR} bohr)"
            )
    n_up, n_down = _electron_counts(config, n_nuclei)
    masses = _nuclear_masses(config, n_nuclei) if config.nuclei == "quantum" else None
    twists = twist_sets.twist_set(_twist_spec(config), cell, fractional, np.ones(n_nuclei, dtype=int), lattice_mode)
    return System(
        name=config.structure,
        lattice=np.asarray(cell, dtype=float),
        nuclear_fractional=np.asarray(fractional, dtype=float) % 1.0,
        nuclear_charges=np.ones(n_nuclei),
        n_up=n_up,
        n_down=n_down,
        twists=twists.fractional,
        twist_weights=twists.weights,
        boundary_condition=twists.label,
        nuclear_masses=masses,
        is_molecule_in_box=config.structure in structures.MOLECULAR_BOXES,
    )


def _mass_me(value) -> float:
    return NUCLEAR_MASSES_ME[value] if isinstance(value, str) else float(value)


def _nuclear_masses(config, n_nuclei: int) -> np.ndarray:
    if config.nuclear_masses and len(config.nuclear_masses) != n_nuclei:
        raise ConfigError(
            f"system.nuclear_masses: {len(config.nuclear_masses)} masses given for {n_nuclei} nuclei"
        )
    values = config.nuclear_masses or [config.isotope] * n_nuclei
    return np.array([_mass_me(v) for v in values])
