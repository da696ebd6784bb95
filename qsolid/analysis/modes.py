"""Gamma-point vibrations by group theory: acoustic, optical translations, librons, vibrons; IR and Raman.

The 3N atomic displacements of the primitive cell carry the representation
D(g) u = R u with atoms permuted by g = {R|t} (lattice translations act as 1 at
Gamma). For a molecular crystal of diatomics the displacement space splits
into invariant subspaces, 6 = 3 + 2 + 1 per molecule:

    translations of the molecular centres = acoustic (3) + optical translations,
    librations (rotations perpendicular to the bond), bond stretches (vibrons).

Each row is decomposed into the point group's irreps in two independent ways:

1. characters from counting fixed objects, for every operation g:
   chi_trans = n_mol(g) tr R,  chi_acoustic = tr R,  chi_vibron = n_mol(g),
   chi_libron = sum over fixed molecules of det(R) (tr R - s), with s = +1 if g
   keeps the molecule's orientation (R b = b) and -1 if it swaps the two atoms:
   a rotation vector w perpendicular to the bond maps to det(R) R w and the
   component along the bond contributes det(R) s;
2. explicit projection: the displacement patterns of each row are built as
   vectors in R^{3N}, their span is checked to be invariant under every D(g),
   and the multiplicity of irrep alpha is tr(Q^T P_alpha Q) / d_alpha with the
   projector P_alpha = (d_alpha / |G|) sum_g chi_alpha(g) D(g).

The sum of the four rows must equal the decomposition of the full 3N
representation (chi = N_fixed(g) tr R). A crystal that is not molecular (see
qsolid.analysis.molecules) has only acoustic and optical ("translational") rows.
This reproduces, for the seed paper's Cmcm structure, the vibron row of Eq. S8
and the translations of Eq. S10; the librons differ from Eq. S9 (see
docs/validation_analysis.md).
"""

import dataclasses

import numpy as np

from qsolid import lattice as lattice_module
from qsolid.analysis.molecules import DEFAULT_MIN_RATIO, Molecules, pair_molecules
from qsolid.analysis.point_groups import CharacterTable, character_table
from qsolid.analysis.symmetry import Symmetry

ROWS = ("acoustic", "translational", "libron", "vibron")


@dataclasses.dataclass(frozen=True)
class ModeAnalysis:
    """Irrep multiplicities of each kind of Gamma-point mode, by characters and by projection."""

    table: CharacterTable
    molecules: Molecules
    rows: dict
    rows_by_projection: dict
    total: dict

    def activity(self, row: str) -> dict:
        """Split one row into Raman-active, infrared-active and silent irreps."""
        split = {"raman": {}, "infrared": {}, "silent": {}}
        for label, count in self.rows[row].items():
            irrep = self.table.irrep(label)
            if irrep.raman:
                split["raman"][label] = count
            if irrep.infrared:
                split["infrared"][label] = count
            if irrep.silent:
                split["silent"][label] = count
        return split

    def label_lists(self) -> dict:
        """The point group's Raman-active, infrared-active and silent irrep labels."""
        return {
            "raman_active": [r.label for r in self.table.irreps if r.raman],
            "ir_active": [r.label for r in self.table.irreps if r.infrared],
            "silent": [r.label for r in self.table.irreps if r.silent],
        }

    def formatted(self, counts: dict) -> str:
        """'3Ag + B1g + ...' in the order of the character table."""
        terms = [f"{counts[r.label] if counts[r.label] > 1 else ''}{r.label}"
                 for r in self.table.irreps if r.label in counts]
        return " + ".join(terms) if terms else "none"


def atom_permutations(symmetry: Symmetry, tolerance_bohr: float = 1e-3) -> np.ndarray:
    """perm[g, i] = index of the atom that operation g of the primitive cell sends atom i to."""
    cell = symmetry.primitive
    permutations = []
    for rotation, translation in zip(symmetry.rotations_fractional, symmetry.translations_fractional):
        image = cell.fractional @ rotation.T + translation
        difference = lattice_module.minimum_image(image[:, None, :] - cell.fractional[None, :, :])
        distance = np.linalg.norm(difference @ cell.lattice_bohr, axis=-1)
        target = np.argmin(distance, axis=1)
        if distance[np.arange(len(target)), target].max() > tolerance_bohr or len(set(target)) != len(target):
            raise ValueError("a symmetry operation does not map the primitive cell onto itself")
        permutations.append(target)
    return np.array(permutations)


def _element_order_of_operations(table: CharacterTable, rotations) -> np.ndarray:
    index = np.array([table.find_element(r) for r in rotations])
    if sorted(index) != list(range(table.order)):
        raise ValueError("the primitive cell's operations are not one per point-group element")
    return index


def _molecule_permutations(molecules: Molecules, permutations):
    """Molecule image and orientation sign (+1 kept, -1 swapped) under each operation."""
    molecule_of = {int(a): m for m, pair in enumerate(molecules.pairs) for a in pair}
    images = np.empty((len(permutations), len(molecules.pairs)), dtype=int)
    signs = np.empty_like(images)
    for g, perm in enumerate(permutations):
        for m, (first, second) in enumerate(molecules.pairs):
            target = molecule_of[int(perm[first])]
            if molecule_of[int(perm[second])] != target:
                raise ValueError("a symmetry operation breaks a molecule apart")
            images[g, m] = target
            signs[g, m] = 1 if perm[first] == molecules.pairs[target][0] else -1
    return images, signs


def _characters_by_counting(rotations, permutations, molecules: Molecules) -> tuple:
    """Characters of the full representation and of each row, per operation (method 1)."""
    traces = np.trace(rotations, axis1=1, axis2=2)
    dets = np.linalg.det(rotations)
    n_atoms_fixed = np.sum(permutations == np.arange(permutations.shape[1]), axis=1)
    total = n_atoms_fixed * traces
    if not molecules.is_molecular:
        rows = {"acoustic": traces, "translational": total - traces,
                "libron": np.zeros_like(traces), "vibron": np.zeros_like(traces)}
        return total, rows
    images, signs = _molecule_permutations(molecules, permutations)
    fixed = images == np.arange(images.shape[1])
    n_fixed = fixed.sum(axis=1)
    libron = np.array([np.sum(fixed[g] * dets[g] * (traces[g] - signs[g])) for g in range(len(traces))])
    rows = {"acoustic": traces, "translational": n_fixed * traces - traces,
            "libron": libron, "vibron": n_fixed.astype(float)}
    return total, rows


def displacement_representation(rotations, permutations) -> np.ndarray:
    """Matrices D(g) on the 3N displacements: (D u)_{perm(i)} = R u_i."""
    n_ops, n_atoms = permutations.shape
    matrices = np.zeros((n_ops, 3 * n_atoms, 3 * n_atoms))
    for g in range(n_ops):
        for i, j in enumerate(permutations[g]):
            matrices[g, 3 * j:3 * j + 3, 3 * i:3 * i + 3] = rotations[g]
    return matrices


def _orthonormal(vectors) -> np.ndarray:
    """Orthonormal basis (columns) of the span of the given columns (entries of order one)."""
    u, singular, _ = np.linalg.svd(vectors, full_matrices=False)
    return u[:, singular > 1e-8]


def mode_subspaces(n_atoms: int, molecules: Molecules) -> dict:
    """Orthonormal displacement patterns (columns) of each row, built explicitly."""
    dimension = 3 * n_atoms
    acoustic = _orthonormal(np.tile(np.eye(3), (n_atoms, 1)))
    if not molecules.is_molecular:
        optical = _orthonormal(np.eye(dimension) - acoustic @ acoustic.T)
        empty = np.zeros((dimension, 0))
        return {"acoustic": acoustic, "translational": optical, "libron": empty, "vibron": empty}
    translations, librations, stretches = [], [], []
    for (first, second), bond in zip(molecules.pairs, molecules.bond_vectors_bohr):
        unit = bond / np.linalg.norm(bond)
        perpendicular = np.linalg.svd(np.eye(3) - np.outer(unit, unit))[0][:, :2].T
        for axis in np.eye(3):
            pattern = np.zeros((n_atoms, 3))
            pattern[[first, second]] = axis
            translations.append(pattern.ravel())
        for omega in perpendicular:
            pattern = np.zeros((n_atoms, 3))
            pattern[first] = np.cross(omega, -0.5 * bond)
            pattern[second] = np.cross(omega, 0.5 * bond)
            librations.append(pattern.ravel())
        pattern = np.zeros((n_atoms, 3))
        pattern[first], pattern[second] = -unit, unit
        stretches.append(pattern.ravel())
    translations = _orthonormal(np.array(translations).T)
    optical = _orthonormal(translations - acoustic @ (acoustic.T @ translations))
    return {"acoustic": acoustic, "translational": optical,
            "libron": _orthonormal(np.array(librations).T), "vibron": _orthonormal(np.array(stretches).T)}


def _multiplicities_by_projection(table: CharacterTable, matrices, subspace) -> dict:
    """Irrep multiplicities in an invariant subspace from tr(Q^T P_alpha Q) / d_alpha (method 2)."""
    if subspace.shape[1] == 0:
        return {}
    leak = max(np.abs(d @ subspace - subspace @ (subspace.T @ d @ subspace)).max() for d in matrices)
    if leak > 1e-8:
        raise ValueError(f"displacement subspace is not invariant (leak {leak:.2e})")
    result = {}
    for irrep in table.irreps:
        trace = np.trace(subspace.T @ table.projector(irrep, matrices) @ subspace)
        count = trace / irrep.dimension
        if abs(count - round(count)) > 1e-6:
            raise ValueError(f"non-integer projected multiplicity {count} of {irrep.label}")
        if round(count):
            result[irrep.label] = int(round(count))
    return result


def _sum(representations) -> dict:
    total = {}
    for representation in representations:
        for label, count in representation.items():
            total[label] = total.get(label, 0) + count
    return total


def gamma_modes(symmetry: Symmetry, min_ratio: float = DEFAULT_MIN_RATIO) -> ModeAnalysis:
    """Classify the Gamma-point modes of the crystal's standardized primitive cell.

    Raises ValueError if the two methods disagree or the rows do not add up to
    the full displacement representation.
    """
    rotations = symmetry.rotations_cartesian
    table = character_table(rotations, symmetry.schoenflies)
    element = _element_order_of_operations(table, rotations)
    permutations = atom_permutations(symmetry)
    molecules = pair_molecules(symmetry.primitive, min_ratio)

    def on_elements(per_operation):
        values = np.empty(table.order)
        values[element] = per_operation
        return values

    total_characters, row_characters = _characters_by_counting(rotations, permutations, molecules)
    total = table.decompose(on_elements(total_characters))
    rows = {row: table.decompose(on_elements(row_characters[row])) for row in ROWS}

    matrices = np.empty((table.order, 3 * symmetry.primitive.n_atoms, 3 * symmetry.primitive.n_atoms))
    matrices[element] = displacement_representation(rotations, permutations)
    subspaces = mode_subspaces(symmetry.primitive.n_atoms, molecules)
    by_projection = {row: _multiplicities_by_projection(table, matrices, subspaces[row]) for row in ROWS}

    if rows != by_projection:
        raise ValueError(f"character and projection decompositions differ: {rows} vs {by_projection}")
    if _sum(rows.values()) != total:
        raise ValueError("acoustic + translational + libron + vibron != full displacement representation")
    return ModeAnalysis(table, molecules, rows, by_projection, total)
