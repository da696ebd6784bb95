"""Twist sets (qsolid.twists): Monkhorst-Pack grids reduced by symmetry, the Baldereschi point, config errors."""

import itertools

import numpy as np
import pytest

from qsolid import lattice as lat
from qsolid import structures, twists
from qsolid.cli import main
from qsolid.vmc.config import load_config
from qsolid.schema import ConfigError
from qsolid.system import build_system

CRYSTALS = {
    "bcc": structures.cubic("bcc", 3.0),
    "pa3": structures.pa3(6.0, 1.4),  # non-symmorphic, lower point group than its cubic lattice
    "orthorhombic-pair": (np.diag([3.0, 4.0, 5.0]), np.array([[0.0, 0.0, 0.0], [0.3, 0.1, 0.2]])),
}


def _symmetric_function(lattice, fractional, t):
    """f(t) = Tr H(k)^2 + Tr H(k)^3 of the tight-binding matrix H_IJ(k) = sum_n h(|x_J + n - x_I|) exp(i k . n).

    With h radial, a space-group operation {R|tau} maps H(Rk) onto H(k) by a
    permutation and diagonal phases, and H(-k) = H(k)*, so the spectrum, hence f,
    has exactly the symmetry of the energy E(t): the crystal's point group and
    time reversal, not the lattice operations the nuclei break. Periodic in t.
    """
    cartesian = lat.to_cartesian(fractional, lattice)
    n = np.array(list(itertools.product(range(-5, 6), repeat=3)), dtype=float) @ lattice
    k = t @ lat.reciprocal(lattice)
    size = lat.volume(lattice) ** (1 / 3)
    d = cartesian[None, :, None, :] + n[None, None, :, :] - cartesian[:, None, None, :]
    r = np.sqrt(np.sum(d**2, axis=-1))
    hopping = np.where(r < 2.0 * size, np.exp(-r / (0.3 * size)), 0.0)  # radial cut: exactly symmetric; not separable
    h = np.sum(hopping * np.exp(1j * n @ k)[None, None, :], axis=-1)
    return float(np.real(np.trace(h @ h) + np.trace(h @ h @ h)))


@pytest.mark.parametrize("name", sorted(CRYSTALS))
@pytest.mark.parametrize("grid, shift", [((2, 2, 2), True), ((2, 2, 2), False), ((3, 3, 3), True), ((4, 4, 4), False), ((2, 3, 4), True)])
def test_irreducible_grid_reproduces_full_grid_average(name, grid, shift):
    lattice, fractional = CRYSTALS[name]
    reduced = twists.monkhorst_pack(lattice, fractional, [1] * len(fractional), grid, shift)
    full = twists.full_grid(grid, shift)
    assert len(full) == np.prod(grid)
    assert reduced.weights.sum() == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(reduced.weights * len(full), np.round(reduced.weights * len(full)), atol=1e-12)
    for t in reduced.fractional:  # every irreducible twist is a point of the grid
        assert np.min(np.max(np.abs(twists.fold(full - t)), axis=1)) < 1e-12
    exact = np.mean([_symmetric_function(lattice, fractional, t) for t in full])
    quadrature = sum(w * _symmetric_function(lattice, fractional, t) for t, w in zip(reduced.fractional, reduced.weights))
    assert quadrature == pytest.approx(exact, rel=1e-12)


def test_reduction_uses_the_nuclei_not_only_the_lattice():
    lattice, fractional = CRYSTALS["pa3"]
    crystal = twists.monkhorst_pack(lattice, fractional, [1] * 8, (4, 4, 4), False)
    bare = twists.monkhorst_pack(lattice, np.zeros((0, 3)), [], (4, 4, 4), False)  # cubic lattice alone
    assert len(crystal) > len(bare)
    # The bare lattice's weights would be wrong for Pa-3: its reduced average misses the full one.
    full = twists.full_grid((4, 4, 4), False)
    exact = np.mean([_symmetric_function(lattice, fractional, t) for t in full])
    wrong = sum(w * _symmetric_function(lattice, fractional, t) for t, w in zip(bare.fractional, bare.weights))
    assert abs(wrong - exact) > 1e-6 * abs(exact)  # far above the 1e-12 agreement of the right weights


@pytest.mark.parametrize("mode, deformation", [
    ("lengths", np.diag([1.0, 1.07, 0.95])),  # a, b, c scaled independently: orthorhombic
    ("full", np.array([[1.0, 0.06, -0.03], [0.02, 1.07, 0.04], [-0.05, 0.01, 0.95]])),  # triclinic
])
def test_constant_pressure_reduction_stays_exact_when_the_cell_deforms(mode, deformation):
    """A grid reduced for `lattice_mode` on the cubic Pa-3 cell keeps its exact weights after any cell move of
    that mode (nuclei fixed in fractional coordinates), where the cubic cell's own reduction does not."""
    lattice, fractional = CRYSTALS["pa3"]
    deformed = lattice @ deformation
    grid = (4, 4, 4)
    full = twists.full_grid(grid, True)
    exact = np.mean([_symmetric_function(deformed, fractional, t) for t in full])

    def quadrature(reduced):
        return sum(w * _symmetric_function(deformed, fractional, t) for t, w in zip(reduced.fractional, reduced.weights))

    kept = twists.monkhorst_pack(lattice, fractional, [1] * 8, grid, True, mode)
    cubic = twists.monkhorst_pack(lattice, fractional, [1] * 8, grid, True)
    assert len(kept) > len(cubic)
    assert quadrature(kept) == pytest.approx(exact, rel=1e-12)
    assert abs(quadrature(cubic) - exact) > 1e-6 * abs(exact)
    # the deformed cell's own symmetry gives no fewer twists than what the mode kept
    assert len(twists.monkhorst_pack(deformed, fractional, [1] * 8, grid, True)) <= len(kept)


def _shell_sums(lattice, t, shells):
    k = t @ lat.reciprocal(lattice)
    return [abs(np.sum(np.exp(1j * vectors @ k))) for vectors in twists._lattice_vectors_by_shell(lattice, shells)]


def test_baldereschi_point_of_simple_cubic_cell_is_quarter_quarter_quarter():
    for lattice in (np.eye(3) * 3.8, structures.cubic("bcc", 3.0)[0], np.eye(3) * 7.0):
        np.testing.assert_allclose(twists.baldereschi_point(lattice), [0.25, 0.25, 0.25], atol=1e-12)
        np.testing.assert_allclose(_shell_sums(lattice, twists.baldereschi_point(lattice), 2), 0.0, atol=1e-12)


@pytest.mark.parametrize("kind, tolerance", [("bcc", 1e-12), ("fcc", 1e-3)])
def test_baldereschi_point_of_primitive_cubic_cells_zeroes_the_first_two_shells(kind, tolerance):
    a = 3.3
    rows = {"bcc": [[-1, 1, 1], [1, -1, 1], [1, 1, -1]], "fcc": [[0, 1, 1], [1, 0, 1], [1, 1, 0]]}[kind]
    rotation = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]  # orientation-independent
    lattice = 0.5 * a * np.array(rows, dtype=float) @ rotation
    t = twists.baldereschi_point(lattice)
    sums = _shell_sums(lattice, t, 2)
    np.testing.assert_allclose(sums, 0.0, atol=tolerance * 12)
    assert _shell_sums(lattice, np.zeros(3), 1)[0] > 5  # (Gamma is the opposite extreme)


def test_baldereschi_point_of_a_general_cell_is_quarter_in_the_reduced_basis():
    lattice = np.array([[3.0, 0.0, 0.0], [1.0, 4.0, 0.0], [0.5, 0.7, 5.0]])
    t = twists.baldereschi_point(lattice)
    u, reduced = __import__("qsolid.lattice", fromlist=["reduce_lattice"]).reduce_lattice(lattice)
    k = t @ lat.reciprocal(lattice)
    np.testing.assert_allclose(np.cos(reduced @ k), 0.0, atol=1e-12)  # the three shortest vectors


def test_system_carries_twists_and_weights():
    system = build_system(load_config(None, {"system.twists": {"grid": [2, 2, 2], "shift": False}}).system)
    assert system.boundary_condition == "monkhorst-pack 2x2x2, 4 irreducible twists"
    assert system.twist_weights.sum() == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="system.twists"):
        system.twist
    single = build_system(load_config(None, {"system.twists": [[0.25, 0.0, 0.5]]}).system)
    np.testing.assert_allclose(single.twist, [0.25, 0.0, -0.5])  # folded into [-1/2, 1/2)
    assert single.boundary_condition == "twist [0.25, 0, -0.5]"
    baldereschi = build_system(load_config(None, {"system.twists": "baldereschi"}).system)
    np.testing.assert_allclose(baldereschi.twist, [0.25, 0.25, 0.25])


@pytest.mark.parametrize(
    "structure, expected",
    [("bcc", "baldereschi [0.25, 0.25, 0.25]"), ("pa3", "baldereschi [0.25, 0.25, 0.25]"), ("h2-molecule", "gamma"),
     ("h-atom", "gamma"), ("jellium", "gamma")],
)
def test_default_boundary_condition_is_baldereschi_for_crystals_gamma_otherwise(structure, expected):
    overrides = {"system.structure": structure}
    if structure == "jellium":
        overrides |= {"system.rs": 2.0, "system.electrons": 14, "network.ansatz": "slater", "optimisation.steps": 0}
    if structure == "h-atom":
        overrides |= {"system.spin_polarisation": 1}
    config = load_config(None, overrides)
    assert config.system.twists == "auto"
    assert build_system(config.system).boundary_condition == expected


INVALID_TWISTS = [
    ("gama", "must be 'auto', 'gamma', 'baldereschi'"),
    ({"grid": [2, 2]}, "grid must be three integers"),
    ({"grid": [2.5, 2, 2]}, "grid must be three integers"),
    ({"grid": [0, 2, 2]}, "grid must be three integers"),
    ({"grid": [float("inf"), 2, 2]}, "must be a finite number"),
    ({"shift": True}, "needs grid"),
    ({"grid": [2, 2, 2], "shfit": True}, "unknown key 'shfit'"),
    ({"grid": [2, 2, 2], "shift": 1}, "shift must be true or false"),
    ([[float("nan"), 0.0, 0.0]], "finite"),
    ([[0.1, 0.2]], "each twist must be"),
    ([], "at least one"),
    (3, "must be 'auto', 'gamma'"),
]


@pytest.mark.parametrize("value, message", INVALID_TWISTS)
def test_invalid_twists_are_one_line_errors(value, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, {"system.twists": value})
    assert str(error.value).startswith("system.twists") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_old_twist_key_names_the_new_one(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text("[system]\ntwist = [0.25, 0.0, 0.0]\n")
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert "system.twists" in error and len(error.splitlines()) == 1
    assert not out.exists()
