"""Twist sets: the boundary conditions a crystal energy is averaged over.

A twist t (fractions of the simulation cell's reciprocal vectors b_k, so that
k_t = t @ B) makes every electron carry the Bloch phase
Psi(r_i + a_k) = exp(2 pi i t_k) Psi. The twist-averaged energy

    E_TA = sum_t w_t E(t),   sum_t w_t = 1,

replaces the Brillouin-zone integral of the simulation cell by a quadrature
(Lin, Zong & Ceperley, PRE 64, 016702 (2001)). `system.twists` chooses it:

* "auto" (the default): "baldereschi" for a crystal, "gamma" for an atom or
  molecule in a box and for jellium (qsolid.system.default_twists).
* "gamma": t = 0, w = 1.
* "baldereschi": the mean-value point of the simulation cell's lattice
  (Baldereschi, PRB 7, 5212 (1973)): the k at which the lattice sums
  A_m(k) = sum_{R in shell m} exp(i k . R) of the first shells vanish, so a
  smooth periodic function of k equals its zone average up to the terms of
  farther shells. For the three cubic Bravais lattices (a the conventional
  constant, Cartesian along the cube edges):
      simple cubic  k* = (2 pi / a) (1/4, 1/4, 1/4)   (A_1 = A_2 = 0),
      bcc           k* = (2 pi / a) (1/6, 1/6, 1/2)   (A_1 = A_2 = 0),
      fcc           k* = (2 pi / a) (0.6223, 0.2953, 0) (Baldereschi's value).
  Any other cell uses t = (1/4, 1/4, 1/4) in its Minkowski-reduced basis,
  which makes cos(k . a_k) = 0 on its three shortest independent vectors
  (the simple-cubic rule applied to the reduced basis; our choice, documented
  here because no unique mean-value point exists for a general lattice).
  A simple-cubic simulation cell (jellium, any supercell of the cubic cells)
  therefore gets t = (1/4, 1/4, 1/4).
* {grid = [n1, n2, n3], shift = false|true}: the Monkhorst-Pack grid
  t = (i + s/2) / n, i = 0..n-1 per axis (s = 1 when shifted), reduced with
  spglib (get_ir_reciprocal_mesh) by the point group of the simulation cell
  *with its nuclei* and by time reversal. Weights are the multiplicities of
  the irreducible twists. The reduction is exact for the exact energy E(t):
  a space-group operation {R|tau} of the crystal maps the twist-t Hamiltonian
  onto the twist-Rt one, and for a complex wavefunction E(-t) = E(t)
  (Psi_{-t} = Psi_t*). A variational state built differently at equivalent
  twists need not respect it (a partly filled plane-wave shell split by a fixed
  tie-break does not; the `slater` ansatz fills it covariantly, see
  qsolid.vmc.ansatz.slater); use explicit twists to average such a state over the
  full grid.
  At constant pressure the cell deforms, so only the operations that survive
  every allowed deformation reduce the grid: with `npt.lattice_mode =
  "lengths"` (a, b, c scaled independently) those whose fractional rotation
  maps each axis onto itself (diagonal, entries +-1), with "full" only +-1
  (inversion, time reversal). A fractional rotation R with R^T G R = G for the
  metric G stays a symmetry of D G D for diagonal D exactly when R is
  diagonal, and the nuclei move with the cell in fractional coordinates.
* [[t1, t2, t3], ...]: the listed twists with equal weights.

Twists are folded into [-1/2, 1/2): E(t) is periodic in t with period 1.
"""

import contextlib
import dataclasses
import itertools
import warnings

import numpy as np
import spglib

from qsolid.lattice import reduce_lattice

BALDERESCHI_CUBIC = {
    221: (np.array([0.25, 0.25, 0.25]), 1),  # simple cubic: cube edges in the first shell
    229: (np.array([1 / 6, 1 / 6, 0.5]), 2),  # bcc: cube edges in the second shell
    225: (np.array([0.6223, 0.2953, 0.0]), 2),  # fcc: cube edges in the second shell
}
"""Space-group number of the bare lattice -> (k* in units of 2 pi / a along the cube edges, shell of the edges)."""

SYMPREC = 1e-5
"""spglib's tolerance (fractional distances in bohr) for the crystal's symmetry."""


@dataclasses.dataclass(frozen=True)
class TwistSet:
    """Twists (n, 3) in fractions of the simulation cell's reciprocal vectors, their weights and a label."""

    fractional: np.ndarray
    weights: np.ndarray
    label: str
    """The boundary condition in words, e.g. 'monkhorst-pack 2x2x2 shifted, 4 irreducible twists'."""

    def __len__(self) -> int:
        return len(self.fractional)

    def as_list(self) -> list[dict]:
        """[{'twist': [t1, t2, t3], 'weight': w}, ...] for summary.json / evaluation.json."""
        return [{"twist": [float(x) for x in t], "weight": float(w)} for t, w in zip(self.fractional, self.weights)]


def fold(twists) -> np.ndarray:
    """Twists folded into [-1/2, 1/2) (E(t) has period 1 in every component)."""
    t = np.asarray(twists, dtype=float)
    return t - np.floor(t + 0.5)


def _single(twist, label: str) -> TwistSet:
    return TwistSet(fold(np.atleast_2d(twist)), np.ones(1), label)


def _format_twist(t) -> str:
    return "[" + ", ".join(f"{x:.6g}" for x in t) + "]"


def _lattice_vectors_by_shell(lattice, shells: int):
    """Lattice vectors n @ L of the first `shells` nonzero lengths, grouped by length."""
    _, reduced = reduce_lattice(lattice)
    grid = np.array(list(itertools.product(range(-3, 4), repeat=3)), dtype=float)
    vectors = grid[np.any(grid != 0, axis=1)] @ reduced
    lengths = np.linalg.norm(vectors, axis=1)
    distinct = np.unique(np.round(lengths / lengths.min(), 6))[:shells] * lengths.min()
    return [vectors[np.abs(lengths - d) < 1e-6 * d] for d in distinct]


def _cube_edges(lattice, shell: int) -> np.ndarray:
    """Three orthogonal lattice vectors of `shell` (rows): the conventional cube's edges."""
    vectors = _lattice_vectors_by_shell(lattice, shell)[shell - 1]
    vectors = vectors[np.argsort(-(vectors @ np.array([1.0, 1e-3, 1e-6])), kind="stable")]  # positive edges first
    first = vectors[0]
    second = next(v for v in vectors if abs(v @ first) < 1e-8 * (first @ first))
    third = next(v for v in vectors if abs(v @ first) < 1e-8 * (first @ first) and abs(v @ second) < 1e-8 * (first @ first))
    return np.array([first, second, third])


def baldereschi_point(lattice) -> np.ndarray:
    """The mean-value twist of the simulation cell (fractional; see the module docstring)."""
    lattice = np.asarray(lattice, dtype=float)
    number = _space_group_number(lattice, np.zeros((1, 3)), [1])
    if number in BALDERESCHI_CUBIC:
        coefficients, shell = BALDERESCHI_CUBIC[number]
        edges = _cube_edges(lattice, shell)
        a = np.linalg.norm(edges[0])
        k = (2.0 * np.pi / a) * (coefficients @ (edges / a))
        return fold(k @ lattice.T / (2.0 * np.pi))  # t = k L^T / 2 pi since k = t B, B = 2 pi L^-T
    u, _ = reduce_lattice(lattice)
    return fold(np.full(3, 0.25) @ np.linalg.inv(u).T)  # (1/4, 1/4, 1/4) in the reduced reciprocal basis


@contextlib.contextmanager
def _quiet_spglib():
    """spglib 2.x warns on every call that its old error handling is deprecated; silence it locally."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Set OLD_ERROR_HANDLING", category=DeprecationWarning)
        yield


def _space_group_number(lattice, fractional, numbers):
    try:
        with _quiet_spglib():
            dataset = spglib.get_symmetry_dataset((lattice, fractional, list(numbers)), symprec=SYMPREC)
    except spglib.SpglibError:
        return None
    return None if dataset is None else dataset.number


def _spglib_cell(lattice, fractional, numbers):
    """The simulation cell for spglib; without nuclei (jellium) one dummy site keeps the lattice's symmetry."""
    fractional = np.asarray(fractional, dtype=float).reshape(-1, 3)
    if len(fractional) == 0:
        return np.asarray(lattice, dtype=float), np.zeros((1, 3)), [1]
    return np.asarray(lattice, dtype=float), fractional % 1.0, [int(n) for n in numbers]


def _rotations_kept(rotations: np.ndarray, lattice_mode: str) -> np.ndarray:
    """The fractional rotations that stay symmetries under the cell moves of `lattice_mode` (module docstring)."""
    if lattice_mode == "lengths":
        keep = [np.array_equal(r, np.diag(np.diag(r))) for r in rotations]
    elif lattice_mode == "full":
        keep = [np.array_equal(r, np.eye(3)) or np.array_equal(r, -np.eye(3)) for r in rotations]
    else:
        keep = [True] * len(rotations)
    return rotations[np.array(keep, dtype=bool)]


def monkhorst_pack(lattice, fractional, numbers, grid, shift: bool, lattice_mode: str = "fixed") -> TwistSet:
    """The n1 x n2 x n3 Monkhorst-Pack twists reduced by time reversal and the crystal's symmetry
    operations that survive the cell moves of `lattice_mode` ('fixed', 'lengths' or 'full')."""
    grid = [int(n) for n in grid]
    shift_vector = [1 if shift else 0] * 3
    try:
        with _quiet_spglib():
            symmetry = spglib.get_symmetry(_spglib_cell(lattice, fractional, numbers), symprec=SYMPREC)
            result = None
            if symmetry is not None:
                rotations = _rotations_kept(np.unique(symmetry["rotations"], axis=0), lattice_mode)
                # k transforms with (R^T)^-1; over a group that is the set of the R^T
                result = spglib.get_stabilized_reciprocal_mesh(
                    grid, np.ascontiguousarray(np.transpose(rotations, (0, 2, 1))), is_shift=shift_vector, is_time_reversal=True
                )
    except spglib.SpglibError:
        result = None
    if result is None:  # no symmetry found: the full grid, which is always exact
        addresses = np.array(list(itertools.product(*(range(n) for n in grid))))
        mapping = np.arange(len(addresses))
    else:
        mapping, addresses = result
    points = (np.asarray(addresses, dtype=float) + 0.5 * np.asarray(shift_vector)) / np.asarray(grid)
    representatives, counts = np.unique(mapping, return_counts=True)
    name = "x".join(str(n) for n in grid)
    label = f"monkhorst-pack {name}{' shifted' if shift else ''}, {len(representatives)} irreducible twists"
    return TwistSet(fold(points[representatives]), counts / counts.sum(), label)


def full_grid(grid, shift: bool) -> np.ndarray:
    """All n1 n2 n3 twists of the Monkhorst-Pack grid, unreduced (folded)."""
    offset = 0.5 if shift else 0.0
    axes = [(np.arange(n) + offset) / n for n in grid]
    return fold(np.array(list(itertools.product(*axes))))


def twist_set(spec, lattice, fractional, numbers, lattice_mode: str = "fixed") -> TwistSet:
    """The TwistSet of a validated `system.twists` value other than "auto" for the simulation cell
    and its nuclei (a grid reduced by the symmetry that the cell moves of `lattice_mode` keep)."""
    if isinstance(spec, str):
        if spec == "gamma":
            return _single(np.zeros(3), "gamma")
        point = baldereschi_point(lattice)
        return _single(point, f"baldereschi {_format_twist(point)}")
    if isinstance(spec, dict):
        return monkhorst_pack(lattice, fractional, numbers, spec["grid"], bool(spec.get("shift", False)), lattice_mode)
    twists = fold(spec)
    if len(twists) == 1:
        label = "gamma" if not np.any(twists) else f"twist {_format_twist(twists[0])}"
    else:
        label = f"{len(twists)} twists, equal weights"
    return TwistSet(twists, np.full(len(twists), 1.0 / len(twists)), label)


def check_spec(spec) -> str | None:
    """None if `spec` is a valid `system.twists` value, else the one-line problem."""
    if isinstance(spec, str):
        if spec not in ("auto", "gamma", "baldereschi"):
            return f"must be 'auto', 'gamma', 'baldereschi', a grid table {{grid = [n, n, n], shift = true}} or a list of twists, got {spec!r}"
        return None
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - {"grid", "shift"})
        if unknown:
            return f"unknown key {unknown[0]!r} in the grid table (keys: grid, shift)"
        grid = spec.get("grid")
        if grid is None:
            return "the grid table needs grid = [n1, n2, n3]"
        if (
            isinstance(grid, bool)
            or not isinstance(grid, (list, tuple))
            or len(grid) != 3
            or not all(not isinstance(n, bool) and np.isfinite(n) and float(n) == int(n) and n >= 1 for n in grid)
        ):
            return f"grid must be three integers >= 1, got {list(grid) if isinstance(grid, (list, tuple)) else grid!r}"
        if not isinstance(spec.get("shift", False), bool):
            return f"shift must be true or false, got {spec['shift']!r}"
        return None
    if not isinstance(spec, (list, tuple)):
        return f"must be 'auto', 'gamma', 'baldereschi', a grid table or a list of twists, got {spec!r}"
    if not all(isinstance(t, (list, tuple)) and len(t) == 3 for t in spec):
        return f"each twist must be [t1, t2, t3], got {[list(t) if isinstance(t, (list, tuple)) else t for t in spec]}"
    twists = np.asarray(spec, dtype=float)
    if twists.ndim != 2 or twists.shape[1] != 3 or len(twists) == 0:
        return "a list of twists must hold at least one [t1, t2, t3]"
    if not np.all(np.isfinite(twists)):
        return f"twists must be finite, got {np.asarray(spec).tolist()}"
    return None


__all__ = ["TwistSet", "baldereschi_point", "check_spec", "fold", "full_grid", "monkhorst_pack", "twist_set"]
