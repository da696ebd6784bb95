"""Pairing protons into H2 molecules, with a sanity report, and their bond vectors.

Each atom's nearest neighbour is searched over all periodic images (its own
images included, so a monatomic lattice is never mistaken for a molecular
one). The crystal counts as molecular when every atom is the mutual nearest
neighbour of exactly one other atom and the next neighbour is clearly farther:
d_next / d_bond >= ``min_ratio`` for every atom (1.1 by default; the Cmcm
structure of the seed paper, Table IV, has 1.68 / 1.40 = 1.20).
"""

import dataclasses

import numpy as np

from qsolid.analysis.crystal import Crystal
from qsolid.analysis.geometry import minimum_image_vectors
from qsolid.units import BOHR_ANGSTROM

DEFAULT_MIN_RATIO = 1.1
"""Smallest accepted (next-neighbour distance) / (bond length) for a molecular crystal."""

_CHUNK = 2000
"""Configurations per vectorised block when measuring sampled bonds (bounds the memory used)."""

_SHIFTS = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=float)


@dataclasses.dataclass(frozen=True)
class Molecules:
    """Molecules of one crystal: atom pairs, bond vectors (bohr, first -> second) and centres."""

    pairs: np.ndarray
    bond_vectors_bohr: np.ndarray
    centres_fractional: np.ndarray
    is_molecular: bool
    report: dict


def _neighbour_table(crystal: Crystal):
    """Distances (n, n * 27) from each atom to every image of every atom, self excluded."""
    fractional = crystal.fractional
    n = len(fractional)
    images = fractional[None, :, None, :] + _SHIFTS[None, None, :, :] - fractional[:, None, None, :]
    distances = np.linalg.norm(images @ crystal.lattice_bohr, axis=-1)
    distances[np.arange(n), np.arange(n), 13] = np.inf  # shift (0, 0, 0) is index 13
    return distances.reshape(n, -1)


def pair_molecules(crystal: Crystal, min_ratio: float = DEFAULT_MIN_RATIO) -> Molecules:
    """Nearest-neighbour pairing with the mutual-nearest-neighbour and distance-ratio checks."""
    n = crystal.n_atoms
    distances = _neighbour_table(crystal)
    order = np.argsort(distances, axis=1)
    nearest = order[:, 0]
    partner, shift = nearest // 27, nearest % 27
    bond = distances[np.arange(n), nearest]
    next_distance = distances[np.arange(n), order[:, 1]]
    ratio = next_distance / bond
    mutual = (partner[partner] == np.arange(n)) & (partner != np.arange(n)) & (shift[partner] == 26 - shift)
    is_molecular = bool(n >= 2 and mutual.all() and ratio.min() >= min_ratio)
    report = {
        "n_atoms": int(n),
        "all_mutual_nearest_neighbours": bool(mutual.all()),
        "n_atoms_not_mutual": int(np.sum(~mutual)),
        "bond_length_min_bohr": float(bond.min()),
        "bond_length_max_bohr": float(bond.max()),
        "bond_length_min_angstrom": float(bond.min() * BOHR_ANGSTROM),
        "bond_length_max_angstrom": float(bond.max() * BOHR_ANGSTROM),
        "next_neighbour_distance_min_bohr": float(next_distance.min()),
        "next_neighbour_ratio_min": float(ratio.min()),
        "min_ratio_required": float(min_ratio),
        "is_molecular": is_molecular,
    }
    if not is_molecular:
        empty = np.zeros((0, 3))
        report["n_molecules"] = 0
        return Molecules(np.zeros((0, 2), dtype=int), empty, empty, False, report)
    first = np.where(np.arange(n) < partner)[0]
    pairs = np.stack([first, partner[first]], axis=1)
    vectors = crystal.fractional[pairs[:, 1]] + _SHIFTS[shift[first]] - crystal.fractional[pairs[:, 0]]
    centres = crystal.fractional[pairs[:, 0]] + 0.5 * vectors
    report["n_molecules"] = int(len(pairs))
    return Molecules(pairs, vectors @ crystal.lattice_bohr, centres - np.floor(centres), True, report)


def sampled_bond_vectors(fractional_samples, lattices, pairs) -> np.ndarray:
    """Bond vectors (n_samples, n_molecules, 3) in bohr for fixed atom pairs, minimum image.

    ``lattices`` is (3, 3) or one lattice per sample (n_samples, 3, 3).
    """
    fractional_samples = np.asarray(fractional_samples, dtype=float)
    lattices = np.broadcast_to(np.asarray(lattices, dtype=float), (len(fractional_samples), 3, 3))
    chunks = []
    for start in range(0, len(fractional_samples), _CHUNK):
        block = fractional_samples[start:start + _CHUNK]
        chunks.append(minimum_image_vectors(lattices[start:start + _CHUNK, None], block[:, pairs[:, 0]],
                                            block[:, pairs[:, 1]]))
    return np.concatenate(chunks)
