"""Configuration sets: one wavefunction trained over many clamped proton configurations (ensemble VMC).

`system.configurations` names a set {X_c}, c = 1..N_c, of proton positions in the
cell of the system (issue 18 item 2, the "universal" training of issue 19):
one network Psi(r; X) with the protons as inputs is trained on all of them at
once and reports

    E = (1 / N_c) sum_c E_c,   E_c = sum_t w_t E_{c,t},

the ensemble mean of the per-configuration energies (equal weights 1/N_c),
each E_c itself the twist average of the system's twist set. Walkers carry the
group index g = c T + t (T twists, qsolid.vmc.groups) with the weight
w_g = w_t / N_c; the walkers of group g hold the nuclei X_c, which never move
(clamped), and the wavefunction takes the twist t = g mod T (its stacked
k-sets repeated for every configuration, qsolid.vmc.ansatz.wavefunction). So the
gradient is the weighted sum of per-configuration gradients, each centred on
its own E_{c,t} (the per-configuration baseline of seed 001), Hartree-Fock
pretraining fits every group to the orbitals of its own configuration and
twist, and the evaluation reports every E_c (`per_configuration`).

The file: an extended-XYZ file (or any multi-frame file ASE reads, positions
and cell in angstrom), or a qsolid `samples.npz` (fractional positions,
lattice in bohr). Every frame must have the system's number of hydrogen atoms
and its cell (to CELL_TOLERANCE relative; the frames' fractional coordinates
are placed in the system's cell); the system's own structure is only the
reference the network is initialised on. `from_samples` draws a set from a
quantum-proton run, `gaussian_displacements` makes one by displacing the
system's nuclei.

Refused: quantum nuclei (the protons are the set), constant pressure (the
cell is fixed), jellium, a Monkhorst-Pack grid (it is reduced by the symmetry
of the reference crystal, which displaced configurations lack: give its twists
as a list) and twist_mode = 'separate'.
"""

from pathlib import Path

import numpy as np

from qsolid import lattice as lat
from qsolid.schema import ConfigError
from qsolid.system import MIN_PROTON_DISTANCE_BOHR
from qsolid.units import angstrom_to_bohr, bohr_to_angstrom
from qsolid.vmc.groups import Groups

FIELD = "system.configurations"
CELL_TOLERANCE = 1e-6
"""Largest relative difference between a frame's cell and the system's (extxyz keeps ~8 digits)."""


def read_frames(path) -> tuple[np.ndarray, np.ndarray, list]:
    """(lattices (n, 3, 3) bohr, fractional (n, n_atoms, 3), chemical symbols per frame) of a file."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            fractional = np.asarray(data["protons_frac"], dtype=float)
            lattice = np.asarray(data["lattice_bohr"], dtype=float)
            numbers = np.asarray(data["numbers"]) if "numbers" in data else np.ones(fractional.shape[-2], int)
        fractional = fractional.reshape(-1, *fractional.shape[-2:])
        lattices = np.broadcast_to(lattice, (len(fractional), 3, 3))
        symbols = ["H" if z == 1 else str(z) for z in numbers]
        return lattices, fractional, [symbols] * len(fractional)
    import ase.io

    frames = ase.io.read(path, index=":")
    for atoms in frames:
        if not atoms.pbc.all() or atoms.cell.rank != 3:
            raise ValueError("a frame has no full 3-D periodic cell")
    lattices = np.array([angstrom_to_bohr(np.array(atoms.cell[:], dtype=float)) for atoms in frames])
    fractional = [np.array(atoms.get_scaled_positions(wrap=True)) for atoms in frames]
    if len({len(f) for f in fractional}) > 1:
        raise ValueError(f"the frames have different atom counts {sorted({len(f) for f in fractional})}")
    return lattices, np.array(fractional), [atoms.get_chemical_symbols() for atoms in frames]


def load(path, system, field: str = FIELD) -> np.ndarray:
    """(n_configurations, n_nuclei, 3) fractional positions of the set in `path`, checked against the
    system (one-line ConfigError naming `field`)."""
    if not Path(path).is_file():
        raise ConfigError(f"{field}: no file '{path}'")
    try:
        lattices, fractional, symbols = read_frames(path)
    except Exception as error:  # ASE and numpy raise many kinds of errors for unreadable files
        raise ConfigError(f"{field}: cannot read '{path}': {error}".splitlines()[0]) from None
    if len(fractional) == 0:
        raise ConfigError(f"{field}: '{path}' holds no configuration")
    if fractional.shape[1] != system.n_nuclei:
        raise ConfigError(f"{field}: '{path}' has {fractional.shape[1]} atoms per configuration, the system {system.n_nuclei}")
    species = sorted({s for frame in symbols for s in frame})
    if species != ["H"]:
        raise ConfigError(f"{field}: only hydrogen is supported, '{path}' has {species}")
    scale = float(np.max(np.abs(system.lattice)))
    mismatch = np.max(np.abs(lattices - system.lattice[None]), axis=(1, 2))
    if np.any(mismatch > CELL_TOLERANCE * scale):
        index = int(np.argmax(mismatch))
        raise ConfigError(
            f"{field}: configuration {index} of '{path}' is in another cell than the system's "
            f"(lattice differs by {mismatch[index]:.3g} bohr; check structure, rs and supercell)"
        )
    fractional = fractional % 1.0
    if system.n_nuclei > 1:
        for index, frame in enumerate(fractional):
            closest = lat.minimum_distance(system.lattice, frame)
            if closest < MIN_PROTON_DISTANCE_BOHR:
                raise ConfigError(
                    f"{field}: nuclei overlap in configuration {index} of '{path}' "
                    f"(closest pair {closest:.3g} bohr < {MIN_PROTON_DISTANCE_BOHR} bohr)"
                )
    return fractional


def check_run(config, system) -> None:
    """ConfigError unless a configuration set can run with this config (module docstring)."""
    if len(system.twists) > 1 and config.system.twist_mode != "shared":
        raise ConfigError(f"system.twist_mode: {FIELD} trains one network over every configuration and twist; set 'shared'")


def groups(twist_weights, n_configurations: int) -> Groups:
    """The groups g = c T + t with weights w_t / N_c (module docstring)."""
    return Groups(np.kron(np.full(n_configurations, 1.0 / n_configurations), np.asarray(twist_weights, dtype=np.float64)))


def configuration_of(group: np.ndarray, n_twists: int) -> np.ndarray:
    """Configuration index c of each walker's group g = c T + t."""
    return np.asarray(group) // n_twists


def per_configuration_mixing(n_configurations: int, twist_weights) -> np.ndarray:
    """(N_c, G) matrix taking the group means to E_c = sum_t w_t E_{c,t}."""
    return np.kron(np.eye(n_configurations), np.asarray(twist_weights, dtype=np.float64)[None, :])


def per_twist_mixing(n_configurations: int, n_twists: int) -> np.ndarray:
    """(T, G) matrix taking the group means to each twist's mean over the configurations."""
    return np.kron(np.full((1, n_configurations), 1.0 / n_configurations), np.eye(n_twists))


def write_extxyz(path, lattice_bohr, fractional_frames) -> Path:
    """An extended-XYZ file (angstrom, with the cell) of hydrogen configurations in one cell."""
    import ase
    import ase.io

    cell = bohr_to_angstrom(np.asarray(lattice_bohr, dtype=float))
    frames = [ase.Atoms(f"H{len(frame)}", scaled_positions=np.asarray(frame) % 1.0, cell=cell, pbc=True) for frame in fractional_frames]
    path = Path(path)
    ase.io.write(path, frames, format="extxyz")
    return path


def from_samples(run_dir, count: int, seed: int, path) -> Path:
    """Draw `count` distinct nuclear configurations (uniformly, without replacement) from RUN_DIR/samples.npz
    (e.g. of a quantum-proton run) into the extended-XYZ file `path`."""
    lattices, fractional, _ = read_frames(Path(run_dir) / "samples.npz")
    if count > len(fractional):
        raise ConfigError(f"count: {run_dir}/samples.npz holds {len(fractional)} configurations, fewer than {count}")
    chosen = np.sort(np.random.default_rng(seed).choice(len(fractional), size=count, replace=False))
    return write_extxyz(path, lattices[0], fractional[chosen])


def gaussian_displacements(system, count: int, sigma_bohr: float, seed: int, path) -> Path:
    """`count` configurations of the system's nuclei each displaced by independent Gaussians of width
    sigma_bohr per Cartesian component, into the extended-XYZ file `path`."""
    noise = sigma_bohr * np.random.default_rng(seed).normal(size=(count, system.n_nuclei, 3))
    cartesian = system.nuclear_cartesian[None] + noise
    return write_extxyz(path, system.lattice, lat.wrap(cartesian @ np.linalg.inv(system.lattice)))


__all__ = ["from_samples", "gaussian_displacements", "groups", "load", "write_extxyz"]
