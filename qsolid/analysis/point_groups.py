"""Character tables of the 32 crystallographic point groups, generated from their operations.

A point group is handed over as its Cartesian 3x3 matrices (proper and improper
rotations) in the standard orientation of its crystal system: z along the
principal axis (c), x along the a axis, monoclinic groups with their unique
axis along y (b-unique, as in the International Tables and spglib).

Characters come from Burnside's method: the central characters
omega_k = h_k chi(C_k) / d of each irreducible representation are the common
eigenvectors of the class-multiplication matrices (K_i K_j = sum_k c_ijk K_k),
normalised by omega(E) = 1 and sum_k h_k |chi_k|^2 = |G|. Pairs of complex-
conjugate representations (groups with 3-, 4- and 6-fold cyclic parts) are
merged into one real two-dimensional "physically irreducible" representation,
labelled E as in spectroscopy tables, because vibrations are real.

Mulliken labels, decided from the geometry of the operations:
- letter by dimension: A/B (1), E (2), T (3); A if symmetric under the principal
  rotation (the highest-order proper rotation; S4 in -4 and -42m), B if not;
- g/u from the inversion, else '/'' from the horizontal mirror;
- subscripts only where two irreps would otherwise share a label:
  * D2, D2h: B1, B2, B3 symmetric under the two-fold axis along z, y, x;
  * 1 if symmetric under the two-fold axis perpendicular to the principal axis
    along x (a), or, without such axes, under the vertical mirror containing x
    (so C2v: B1 ~ x, B2 ~ y; D4h: B1g ~ x^2 - y^2; hcp's silent mode is B1g);
  * E1/E2 in the six-fold groups by chi(C6) = +1/-1 ((x, y) is E1);
  * A1/A2 and T1/T2 in the cubic groups by chi(C4) = +1/-1 (chi(S4) in -43m).
Infrared activity: the irrep occurs in the vector representation (x, y, z);
Raman activity: it occurs in the symmetric square (quadratic forms).
"""

import dataclasses
import functools

import numpy as np

from qsolid.analysis._spglib import call

HERMANN_MAUGUIN_TO_SCHOENFLIES = {
    "1": "C1", "-1": "Ci", "2": "C2", "m": "Cs", "2/m": "C2h",
    "222": "D2", "mm2": "C2v", "mmm": "D2h",
    "4": "C4", "-4": "S4", "4/m": "C4h", "422": "D4", "4mm": "C4v", "-42m": "D2d", "4/mmm": "D4h",
    "3": "C3", "-3": "C3i", "32": "D3", "3m": "C3v", "-3m": "D3d",
    "6": "C6", "-6": "C3h", "6/m": "C6h", "622": "D6", "6mm": "C6v", "-6m2": "D3h", "6/mmm": "D6h",
    "23": "T", "m-3": "Th", "432": "O", "-43m": "Td", "m-3m": "Oh",
}
"""The 32 crystallographic point groups, international (Hermann-Mauguin) to Schoenflies."""

_TOL = 1e-6


@dataclasses.dataclass(frozen=True)
class Irrep:
    """One physically irreducible representation: label, dimension and real characters per class."""

    label: str
    dimension: int
    characters: np.ndarray
    infrared: bool
    raman: bool

    @property
    def silent(self) -> bool:
        return not (self.infrared or self.raman)


@dataclasses.dataclass(frozen=True)
class CharacterTable:
    """Elements (Cartesian matrices), their conjugacy classes and the labelled real irreps."""

    elements: np.ndarray
    class_of: np.ndarray
    class_sizes: np.ndarray
    class_names: tuple
    irreps: tuple
    schoenflies: str

    @property
    def order(self) -> int:
        return len(self.elements)

    def labels(self) -> list:
        return [irrep.label for irrep in self.irreps]

    def irrep(self, label: str) -> Irrep:
        for candidate in self.irreps:
            if candidate.label == label:
                return candidate
        raise KeyError(label)

    def element_characters(self, irrep: Irrep) -> np.ndarray:
        """Character of every element (not class) of the group."""
        return irrep.characters[self.class_of]

    def find_element(self, rotation) -> int:
        """Index of the element equal to a Cartesian rotation matrix."""
        distance = np.abs(self.elements - np.asarray(rotation)[None]).max(axis=(1, 2))
        index = int(np.argmin(distance))
        if distance[index] > 1e-4:
            raise ValueError("rotation is not an element of this point group")
        return index

    def decompose(self, element_characters) -> dict:
        """Multiplicities n_alpha = <chi, chi_alpha> / <chi_alpha, chi_alpha> of a representation.

        ``element_characters`` holds the character of the representation on each
        element (in the order of ``elements``); the result maps labels to
        non-zero integer multiplicities and fails loudly if they are not integers.
        """
        chi = np.asarray(element_characters, dtype=float)
        result = {}
        for irrep in self.irreps:
            chi_alpha = self.element_characters(irrep)
            n = float(chi @ chi_alpha) / float(chi_alpha @ chi_alpha)
            if abs(n - round(n)) > 1e-6:
                raise ValueError(f"non-integer multiplicity {n} of {irrep.label}")
            if round(n):
                result[irrep.label] = int(round(n))
        return result

    def projector(self, irrep: Irrep, representation) -> np.ndarray:
        """Projector P_alpha = d_alpha / (|G| <chi,chi>) sum_g chi_alpha(g) D(g) onto irrep's subspace.

        ``representation`` is the stack of matrices D(g) in the order of ``elements``.
        For a merged complex pair d_alpha / <chi, chi> is the dimension of one partner.
        """
        chi = self.element_characters(irrep)
        return irrep.dimension / float(chi @ chi) * np.tensordot(chi, np.asarray(representation), axes=1)


def _key(matrix) -> tuple:
    return tuple(np.round(np.asarray(matrix), 6).ravel() + 0.0)


def close_group(generators) -> np.ndarray:
    """All products of the given orthogonal matrices (the generated finite group)."""
    elements = {_key(np.eye(3)): np.eye(3)}
    frontier = [np.eye(3)]
    generators = [np.asarray(g, dtype=float) for g in generators]
    while frontier:
        new = []
        for element in frontier:
            for generator in generators:
                product = generator @ element
                key = _key(product)
                if key not in elements:
                    elements[key] = product
                    new.append(product)
        frontier = new
    return np.array(list(elements.values()))


def _multiplication_table(elements) -> np.ndarray:
    index = {_key(m): i for i, m in enumerate(elements)}
    n = len(elements)
    table = np.empty((n, n), dtype=int)
    for i in range(n):
        for j in range(n):
            table[i, j] = index[_key(elements[i] @ elements[j])]
    return table


def _conjugacy_classes(elements, table) -> np.ndarray:
    n = len(elements)
    inverse = np.array([int(np.where(table[i] == 0)[0][0]) for i in range(n)])
    class_of = -np.ones(n, dtype=int)
    count = 0
    for g in range(n):
        if class_of[g] >= 0:
            continue
        for h in range(n):
            class_of[table[table[h, g], inverse[h]]] = count
        count += 1
    return class_of


def _complex_characters(table, class_of) -> np.ndarray:
    """Irreducible characters per class (rows), by Burnside's eigenvector method."""
    n_classes = class_of.max() + 1
    sizes = np.bincount(class_of)
    order = len(class_of)
    members = [np.where(class_of == k)[0] for k in range(n_classes)]
    # c[i, j, k] = #{(x in C_i, y in C_j): x y = z} for a fixed z in C_k
    c = np.zeros((n_classes, n_classes, n_classes))
    for k in range(n_classes):
        x, y = np.nonzero(table == members[k][0])
        np.add.at(c[:, :, k], (class_of[x], class_of[y]), 1.0)
    rng = np.random.default_rng(20240531)
    for _ in range(10):
        combination = np.tensordot(rng.normal(size=n_classes), c, axes=1)
        eigenvalues, vectors = np.linalg.eig(combination)
        if np.min(np.abs(eigenvalues[:, None] - eigenvalues[None, :]) + np.eye(n_classes) * 1e9) > 1e-6:
            break
    identity_class = class_of[0]
    omega = (vectors / vectors[identity_class]).T
    dimension = np.sqrt(order / np.sum(np.abs(omega) ** 2 / sizes, axis=1))
    characters = dimension[:, None] * omega / sizes[None, :]
    characters = np.round(characters.real, 10) + 1j * np.round(characters.imag, 10)
    # orthogonality <chi_a, chi_b> = delta_ab guards against a degenerate eigenproblem
    gram = (characters.conj() * sizes) @ characters.T / order
    if not np.allclose(gram, np.eye(n_classes), atol=1e-8):
        raise RuntimeError("character orthogonality failed")
    return characters


def _real_characters(characters) -> list:
    """Merge complex-conjugate pairs into real characters (physically irreducible representations)."""
    merged, used = [], set()
    for a, chi in enumerate(characters):
        if a in used:
            continue
        if np.abs(chi.imag).max() < _TOL:
            merged.append(chi.real)
            continue
        partner = next(b for b in range(len(characters)) if b not in used and b != a
                       and np.allclose(characters[b], chi.conj(), atol=1e-8))
        used.update({a, partner})
        merged.append((chi + characters[partner]).real)
    return merged


@dataclasses.dataclass(frozen=True)
class _Geometry:
    """Operations that decide the Mulliken labels."""

    inversion: int | None
    principal: int | None
    horizontal_mirror: int | None
    reference: int | None
    axis_twofolds: dict
    sixfold: int | None
    cubic_reference: int | None
    is_cubic: bool
    is_d2: bool


def _rotation_axis(proper) -> np.ndarray:
    """Unit axis of a proper rotation (any unit vector for the identity)."""
    values, vectors = np.linalg.eig(proper)
    axis = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return axis / np.linalg.norm(axis)


def _element_order(matrix) -> int:
    power = np.asarray(matrix)
    for n in range(1, 13):
        if np.allclose(power, np.eye(3), atol=1e-6):
            return n
        power = power @ matrix
    raise ValueError("not a crystallographic operation")


def _geometry(elements) -> _Geometry:
    det = np.linalg.det(elements)
    orders = np.array([_element_order(m) for m in elements])
    proper = det > 0
    axes = [_rotation_axis(m * d) for m, d in zip(elements, det)]
    is_mirror = (~proper) & (orders == 2) & ~np.all(np.isclose(elements, -np.eye(3)), axis=(1, 2))
    inversion = next((i for i, m in enumerate(elements) if np.allclose(m, -np.eye(3))), None)
    threefolds = int(np.sum(proper & (orders == 3)))
    is_cubic = threefolds > 2
    proper_twofolds = [i for i in range(len(elements)) if proper[i] and orders[i] == 2]
    n_max = int(orders[proper].max())
    principal = None
    if not is_cubic:
        if n_max >= 3:
            principal = next(i for i in range(len(elements)) if proper[i] and orders[i] == n_max)
        elif np.any(~proper & (orders == 4)):
            principal = next(i for i in range(len(elements)) if not proper[i] and orders[i] == 4)
        elif len(proper_twofolds) == 1:
            principal = proper_twofolds[0]
    is_d2 = not is_cubic and principal is None and len(proper_twofolds) == 3
    x_axis = np.array([1.0, 0.0, 0.0])
    axis_twofolds = {}
    if is_d2:
        for name, direction in zip("xyz", np.eye(3)):
            axis_twofolds[name] = next(i for i in proper_twofolds if abs(axes[i] @ direction) > 1 - _TOL)
    horizontal_mirror, reference = None, None
    if principal is not None:
        z = axes[principal]
        perpendicular = [i for i in proper_twofolds if abs(axes[i] @ z) < _TOL]
        vertical = [i for i in range(len(elements)) if is_mirror[i] and abs(axes[i] @ z) < _TOL]
        horizontal = [i for i in range(len(elements)) if is_mirror[i] and abs(axes[i] @ z) > 1 - _TOL]
        horizontal_mirror = horizontal[0] if horizontal else None
        along_x = [i for i in perpendicular if abs(axes[i] @ x_axis) > 1 - _TOL]
        containing_x = [i for i in vertical if abs(axes[i] @ x_axis) < _TOL]
        reference = (along_x or perpendicular or containing_x or vertical or [None])[0]
    elif not is_cubic and not is_d2:
        horizontal_mirror = next((i for i in range(len(elements)) if is_mirror[i]), None)
    sixfold = next((i for i in range(len(elements)) if proper[i] and orders[i] == 6), None)
    cubic_reference = None
    if is_cubic:
        cubic_reference = next((i for i in range(len(elements)) if proper[i] and orders[i] == 4),
                               next((i for i in range(len(elements)) if not proper[i] and orders[i] == 4), None))
    return _Geometry(inversion, principal, horizontal_mirror, reference, axis_twofolds,
                     sixfold, cubic_reference, is_cubic, is_d2)


def _mulliken_labels(element_characters, geometry: _Geometry) -> list:
    """Mulliken label of each real irrep, given its characters on every element."""
    bases = []
    for chi in element_characters:
        d = int(round(chi[0]))
        letter = {2: "E", 3: "T"}.get(d)
        if d == 1 and geometry.is_d2:
            letter = "A" if all(chi[i] > 0 for i in geometry.axis_twofolds.values()) else "B"
        elif d == 1:
            letter = "A" if geometry.principal is None or chi[geometry.principal] > 0 else "B"
        parity = ""
        if geometry.inversion is not None:
            parity = "g" if chi[geometry.inversion] > 0 else "u"
        elif geometry.horizontal_mirror is not None:
            parity = "'" if chi[geometry.horizontal_mirror] > 0 else "''"
        bases.append((letter, parity))
    labels = []
    for chi, (letter, parity) in zip(element_characters, bases):
        subscript = ""
        if bases.count((letter, parity)) > 1:
            if geometry.is_d2:
                symmetric = [axis for axis, i in geometry.axis_twofolds.items() if chi[i] > 0]
                subscript = {"z": "1", "y": "2", "x": "3"}[symmetric[0]]
            elif geometry.is_cubic:
                subscript = "1" if chi[geometry.cubic_reference] > 0 else "2"
            elif letter == "E":
                subscript = "1" if chi[geometry.sixfold] > 0 else "2"
            else:
                subscript = "1" if chi[geometry.reference] > 0 else "2"
        labels.append(f"{letter}{subscript}{parity}")
    return labels


def _quadratic_character(elements) -> np.ndarray:
    """Character of the symmetric square of the vector representation: (tr(R)^2 + tr(R^2)) / 2."""
    traces = np.trace(elements, axis1=1, axis2=2)
    squares = np.trace(elements @ elements, axis1=1, axis2=2)
    return 0.5 * (traces**2 + squares)


def _class_name(matrix) -> str:
    det = np.linalg.det(matrix)
    if np.allclose(matrix, np.eye(3)):
        return "E"
    if np.allclose(matrix, -np.eye(3)):
        return "i"
    axis = _rotation_axis(matrix * det)
    axis = axis * np.sign(axis[np.argmax(np.abs(axis) > 1e-6)])
    named = [name for name, e in zip("xyz", np.eye(3)) if abs(axis @ e) > 1 - _TOL]
    direction = named[0] if named else "(" + ",".join(f"{v:.2f}" for v in axis + 0.0) + ")"
    if det > 0:
        return f"C{_element_order(matrix)}{direction}"
    if _element_order(matrix) == 2:
        return f"m{direction}"
    proper_angle = np.degrees(np.arccos(np.clip((np.trace(-matrix) - 1) / 2, -1, 1)))
    return f"S{int(round(360 / (180 - proper_angle)))}{direction}"


def _representative(members) -> np.ndarray:
    """The class member whose axis lies closest to a Cartesian axis (for readable class names)."""
    alignment = [np.abs(_rotation_axis(m * np.linalg.det(m))).max() for m in members]
    return members[int(np.argmax(np.round(alignment, 6)))]


def character_table(elements, schoenflies: str = "") -> CharacterTable:
    """Labelled character table of the point group made of these Cartesian matrices."""
    elements = close_group(elements)
    table = _multiplication_table(elements)
    class_of = _conjugacy_classes(elements, table)
    sizes = np.bincount(class_of)
    real = _real_characters(_complex_characters(table, class_of))
    per_element = [chi[class_of] for chi in real]
    labels = _mulliken_labels(per_element, _geometry(elements))
    if len(set(labels)) != len(labels):
        raise RuntimeError(f"ambiguous Mulliken labels {labels}")
    vector = np.trace(elements, axis1=1, axis2=2)
    quadratic = _quadratic_character(elements)
    irreps = []
    for label, chi, chi_element in zip(labels, real, per_element):
        norm = float(chi_element @ chi_element)
        irreps.append(Irrep(
            label=label,
            dimension=int(round(chi[class_of[0]])),
            characters=chi,
            infrared=float(vector @ chi_element) / norm > 0.5,
            raman=float(quadratic @ chi_element) / norm > 0.5,
        ))
    order_key = {"A": 0, "B": 1, "E": 2, "T": 3}
    irreps.sort(key=lambda r: (("u" in r.label or "''" in r.label), order_key[r.label[0]], r.label))
    names = tuple(_class_name(_representative(elements[class_of == k])) for k in range(len(sizes)))
    return CharacterTable(elements, class_of, sizes, names, tuple(irreps), schoenflies)


def _ideal_lattice(hexagonal: bool) -> np.ndarray:
    """Unit lattice (rows) of the standard orientation: a along x, c along z."""
    if hexagonal:
        return np.array([[1.0, 0.0, 0.0], [-0.5, np.sqrt(3.0) / 2.0, 0.0], [0.0, 0.0, 1.0]])
    return np.eye(3)


def cartesian_rotations(rotations, lattice) -> np.ndarray:
    """Cartesian matrices R = L^T W L^{-T} of integer rotations W acting on fractional columns.

    ``lattice`` has the lattice vectors as rows (x = s @ L). The results are
    orthogonalised (nearest orthogonal matrix) to remove rounding of the lattice.
    """
    lattice = np.asarray(lattice, dtype=float)
    cartesian = lattice.T @ np.asarray(rotations, dtype=float) @ np.linalg.inv(lattice.T)
    u, _, vt = np.linalg.svd(cartesian)
    return u @ vt


@functools.lru_cache(maxsize=None)
def standard_character_table(point_group: str) -> CharacterTable:
    """Character table of a point group (Hermann-Mauguin or Schoenflies symbol) in its standard setting.

    The operations come from spglib's database: the first space-group setting
    with that point group (P1, P-1, P2 (b-unique), ..., P-6m2, ..., Pm-3m), in the
    ideal Cartesian frame of its crystal system.
    """
    symbols = {**{hm: hm for hm in HERMANN_MAUGUIN_TO_SCHOENFLIES},
               **{s: hm for hm, s in HERMANN_MAUGUIN_TO_SCHOENFLIES.items()}}
    if point_group not in symbols:
        raise KeyError(f"unknown point group {point_group!r}")
    hermann_mauguin = symbols[point_group]
    for hall_number in range(1, 531):
        kind = call("get_spacegroup_type", hall_number)
        if kind.pointgroup_international == hermann_mauguin:
            break
    rotations = call("get_symmetry_from_database", hall_number)["rotations"]
    hexagonal = 143 <= kind.number <= 194
    elements = cartesian_rotations(rotations, _ideal_lattice(hexagonal))
    return character_table(elements, HERMANN_MAUGUIN_TO_SCHOENFLIES[hermann_mauguin])


_LINEAR = {"x": [1, 0, 0], "y": [0, 1, 0], "z": [0, 0, 1]}
_QUADRATIC = {
    "x2+y2": np.diag([1.0, 1.0, 0.0]), "z2": np.diag([0.0, 0.0, 1.0]), "x2-y2": np.diag([1.0, -1.0, 0.0]),
    "x2": np.diag([1.0, 0.0, 0.0]), "y2": np.diag([0.0, 1.0, 0.0]),
    "xy": np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], float),
    "xz": np.array([[0, 0, 1], [0, 0, 0], [1, 0, 0]], float),
    "yz": np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0]], float),
}


def basis_functions(table: CharacterTable) -> dict:
    """Named functions lying wholly in each irrep: x, y, z, Rx, Ry, Rz and quadratic forms.

    A function f belongs to irrep alpha when its projection P_alpha f equals f.
    Vectors transform as R v, axial vectors (rotations) as det(R) R v, quadratic
    forms Q as R Q R^T.
    """
    det = np.linalg.det(table.elements)
    actions = {}
    for name, v in _LINEAR.items():
        actions[name] = np.einsum("gij,j->gi", table.elements, np.asarray(v, float))
        actions["R" + name] = det[:, None] * actions[name]
    for name, q in _QUADRATIC.items():
        actions[name] = np.einsum("gij,jk,glk->gil", table.elements, q, table.elements).reshape(len(det), -1)
    result = {}
    for irrep in table.irreps:
        inside = []
        for name, images in actions.items():
            projected = table.projector(irrep, images)
            original = images[0]
            if np.allclose(projected, original, atol=1e-8):
                inside.append(name)
        result[irrep.label] = inside
    return result
