"""Tests of qsolid.ewald against Madelung constants and between its two implementations.

Reference constants are hard-coded from /work/shared/REFERENCES.md (rows named
in the comments); the package itself does not read that file.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid.ewald import coulomb_energy, ewald_energy, make_ewald
from qsolid.lattice import reduce_lattice
from qsolid.lattice import lattice_from_parameters, supercell

# REFERENCES.md, "Coulomb lattice sums": E/N = -alpha / r_s, unit charges in a background.
ALPHA = {"bcc": 0.895929255682, "fcc": 0.895873615195, "sc": 0.880059442112}
# REFERENCES.md, "Coulomb lattice sums", ionic crystals: E per ion pair = -M / d.
MADELUNG_NACL = 1.7475645946331821906  # OEIS A085469
MADELUNG_CSCL = 1.7626747730709884  # OEIS A181152
# REFERENCES.md, "Periodic hydrogen", bcc H 2 atoms: proton-proton Ewald energy.
BCC_H_A = 3.77945227
BCC_H_PROTON_ENERGY = -0.962899698032
# REFERENCES.md, "Molecules in a periodic box": +1/-1 at 1 bohr in a 20-bohr cube.
DIPOLE_PAIR_ENERGY = -1.00026277

SKEW = np.array([[1, 0, 0], [1, 1, 0], [2, 1, 1]])  # unimodular: same lattice, skewed basis

FCC_SITES = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
PRIMITIVE = {
    "bcc": 0.5 * np.array([[-1.0, 1, 1], [1, -1, 1], [1, 1, -1]]),
    "fcc": 0.5 * np.array([[0.0, 1, 1], [1, 0, 1], [1, 1, 0]]),
    "sc": np.eye(3),
}
CONVENTIONAL_SITES = {"bcc": np.array([[0, 0, 0], [0.5, 0.5, 0.5]]), "fcc": FCC_SITES, "sc": np.zeros((1, 3))}


@pytest.fixture(scope="module", autouse=True)
def _float64():
    with jax.enable_x64(True):
        yield


def _rotation(seed=0):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _cells(kind, a):
    """(label, lattice, Cartesian positions) for one lattice described in several ways."""
    conventional = a * np.eye(3)
    sites = CONVENTIONAL_SITES[kind]
    primitive = a * PRIMITIVE[kind]
    rot = _rotation()
    big, frac, _ = supercell(conventional, sites, [2, 2, 2])
    return [
        ("conventional", conventional, sites @ conventional),
        ("primitive", primitive, np.zeros((1, 3))),
        ("skewed primitive", SKEW @ primitive, np.zeros((1, 3))),
        ("rotated skewed", SKEW @ primitive @ rot.T, np.zeros((1, 3))),
        ("skewed conventional", SKEW @ conventional, sites @ conventional + [0.3, -0.2, 0.7]),
        ("2x2x2 supercell", big, frac @ big),
    ]


# ---------------------------------------------------------------------------
# NumPy reference against Madelung constants
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bcc", "fcc", "sc"])
def test_one_component_madelung(kind):
    a = 1.7
    for label, lattice, positions in _cells(kind, a):
        n = len(positions)
        rs = (3.0 * abs(np.linalg.det(lattice)) / (4.0 * np.pi * n)) ** (1.0 / 3.0)
        energy = coulomb_energy(lattice, positions, np.ones(n))
        assert energy / n == pytest.approx(-ALPHA[kind] / rs, rel=1e-9), label


def _nacl_cells(a):
    conventional = a * np.eye(3)
    frac = np.vstack([FCC_SITES, FCC_SITES + [0.5, 0, 0]])
    charges = np.r_[np.ones(4), -np.ones(4)]
    primitive = a * PRIMITIVE["fcc"]
    prim_pos = np.array([[0, 0, 0], [0.5, 0.5, 0.5]]) @ primitive
    return [
        ("conventional", conventional, frac @ conventional, charges),
        ("primitive", primitive, prim_pos, np.array([1.0, -1.0])),
        ("skewed primitive", SKEW @ primitive, prim_pos, np.array([1.0, -1.0])),
    ]


def test_nacl_madelung():
    a = 5.3
    d = a / 2
    for label, lattice, positions, charges in _nacl_cells(a):
        pairs = len(charges) // 2
        energy = coulomb_energy(lattice, positions, charges)
        assert energy / pairs == pytest.approx(-MADELUNG_NACL / d, rel=1e-9), label


def test_cscl_madelung():
    a = 4.1
    d = a * np.sqrt(3.0) / 2
    cubic = a * np.eye(3)
    frac = np.array([[0, 0, 0], [0.5, 0.5, 0.5]])
    charges = np.array([1.0, -1.0])
    big, big_frac, index = supercell(cubic, frac, [2, 2, 2])
    cells = [
        ("primitive (cubic)", cubic, frac @ cubic, charges),
        ("skewed", SKEW @ cubic, frac @ cubic, charges),
        ("2x2x2 supercell", big, big_frac @ big, charges[index]),
    ]
    for label, lattice, positions, q in cells:
        energy = coulomb_energy(lattice, positions, q)
        assert energy / (len(q) // 2) == pytest.approx(-MADELUNG_CSCL / d, rel=1e-9), label


def test_bcc_hydrogen_proton_energy():
    lattice = BCC_H_A * np.eye(3)
    positions = np.array([[0, 0, 0], [0.5, 0.5, 0.5]]) * BCC_H_A
    energy = coulomb_energy(lattice, positions, [1.0, 1.0])
    assert energy == pytest.approx(BCC_H_PROTON_ENERGY, rel=1e-9)


def test_dipole_pair_in_box():
    lattice = 20.0 * np.eye(3)
    energy = coulomb_energy(lattice, [[0, 0, 0], [1, 0, 0]], [1.0, -1.0])
    assert abs(energy - DIPOLE_PAIR_ENERGY) < 1e-8
    # Leading image correction of the tin-foil convention: -(2 pi / 3 Omega) d^2.
    assert abs(energy - (-1.0 - 2 * np.pi / (3 * 8000.0))) < 1e-6


def test_numpy_invariances():
    rng = np.random.default_rng(5)
    lattice = np.array(lattice_from_parameters(4.0, 5.0, 6.5, 70.0, 95.0, 110.0))
    frac = rng.random((6, 3))
    charges = np.array([1.0, 1.0, 2.0, -1.0, -1.0, -1.0])
    ref = coulomb_energy(lattice, frac @ lattice, charges)
    shifted = (frac + rng.integers(-3, 4, size=frac.shape)) @ lattice + [0.3, -1.1, 2.2]
    assert coulomb_energy(lattice, shifted, charges) == pytest.approx(ref, rel=1e-12)
    rot = _rotation(1)
    assert coulomb_energy(lattice @ rot.T, frac @ lattice @ rot.T, charges) == pytest.approx(ref, rel=1e-12)
    assert coulomb_energy(SKEW @ lattice, frac @ lattice, charges) == pytest.approx(ref, rel=1e-12)


def test_reduce_lattice():
    lattice = SKEW @ SKEW @ (2.0 * np.eye(3))
    u, reduced = reduce_lattice(lattice)
    assert np.issubdtype(u.dtype, np.integer)
    assert round(np.linalg.det(u)) == 1
    np.testing.assert_allclose(u @ lattice, reduced, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(reduced, axis=1), 2.0, rtol=1e-12)


# ---------------------------------------------------------------------------
# JAX version
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def triclinic_system():
    rng = np.random.default_rng(0)
    lattice = np.array(lattice_from_parameters(5.1, 6.3, 5.7, 75.0, 101.0, 64.0))
    charges = np.r_[np.ones(4), -np.ones(4)]
    frac = rng.random((3, 8, 3))
    setup = make_ewald(lattice, charges, precision=1e-12)
    return lattice, charges, frac, setup


def test_jax_matches_numpy_with_changing_lattice(triclinic_system):
    lattice, charges, frac, setup = triclinic_system
    energy = jax.jit(ewald_energy)  # setup passed as a pytree, lattice traced
    deformations = {
        "reference": np.eye(3),
        "15% larger": 1.15 * np.eye(3),
        "15% smaller": 0.85 * np.eye(3),
        "anisotropic": np.diag([1.15, 0.88, 1.0]),
        "sheared": np.array([[1.0, 0.15, 0.0], [0.0, 1.0, -0.1], [0.05, 0.0, 0.95]]),
    }
    for label, f in deformations.items():
        lat = lattice @ f
        for s in frac[:2]:
            ref = coulomb_energy(lat, s @ lat, charges)
            assert float(energy(setup, lat, s)) == pytest.approx(ref, rel=1e-10), label


def test_jax_vmap_and_translation_invariance(triclinic_system):
    lattice, charges, frac, setup = triclinic_system
    batch = jax.jit(jax.vmap(ewald_energy, in_axes=(None, None, 0)))
    values = np.asarray(batch(setup, lattice, frac))
    refs = [coulomb_energy(lattice, s @ lattice, charges) for s in frac]
    np.testing.assert_allclose(values, refs, rtol=1e-10)
    shift = np.array([0.37, -1.21, 2.93])  # all particles by the same (fractional) vector
    images = np.random.default_rng(1).integers(-2, 3, size=frac.shape)  # each by lattice vectors
    np.testing.assert_allclose(np.asarray(batch(setup, lattice, frac + shift)), values, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(batch(setup, lattice, frac + images)), values, rtol=1e-12)


def test_jax_gradients_match_finite_differences(triclinic_system):
    lattice, charges, frac, setup = triclinic_system
    s = frac[0]
    grad_s, grad_l = jax.jit(jax.grad(ewald_energy, argnums=(2, 1)))(setup, lattice, s)
    h = 1e-5

    def e(lat, ss):
        return coulomb_energy(lat, ss @ lat, charges)

    fd_s = np.zeros_like(s)
    for i in range(s.shape[0]):
        for k in range(3):
            step = np.zeros_like(s)
            step[i, k] = h
            fd_s[i, k] = (e(lattice, s + step) - e(lattice, s - step)) / (2 * h)
    np.testing.assert_allclose(np.asarray(grad_s), fd_s, atol=1e-6 * np.abs(fd_s).max())

    fd_l = np.zeros((3, 3))  # derivative at fixed fractional coordinates
    for a in range(3):
        for b in range(3):
            step = np.zeros((3, 3))
            step[a, b] = h
            fd_l[a, b] = (e(lattice + step, s) - e(lattice - step, s)) / (2 * h)
    np.testing.assert_allclose(np.asarray(grad_l), fd_l, atol=1e-7)


def test_jax_bcc_hydrogen_with_background():
    lattice = BCC_H_A * np.eye(3)
    setup = make_ewald(lattice, [1.0, 1.0], precision=1e-13)
    frac = np.array([[0, 0, 0], [0.5, 0.5, 0.5]])
    assert float(ewald_energy(setup, lattice, frac)) == pytest.approx(BCC_H_PROTON_ENERGY, rel=1e-9)
    # Skewed description of the same cell and a uniformly compressed lattice.
    skewed = SKEW @ lattice
    frac_skewed = frac @ np.linalg.inv(SKEW)
    setup_skewed = make_ewald(skewed, [1.0, 1.0], precision=1e-13)
    assert float(ewald_energy(setup_skewed, skewed, frac_skewed)) == pytest.approx(BCC_H_PROTON_ENERGY, rel=1e-9)
    assert float(ewald_energy(setup, 0.9 * lattice, frac)) == pytest.approx(BCC_H_PROTON_ENERGY / 0.9, rel=1e-9)


@pytest.fixture(scope="module")
def bcc16():
    """16-atom bcc hydrogen at r_s = 1.31 (2x2x2 conventional cells) with 16 random electrons."""
    rs = 1.31
    a = (2 * 4 * np.pi / 3 * rs**3) ** (1.0 / 3.0)
    lattice, protons, _ = supercell(a * np.eye(3), [[0, 0, 0], [0.5, 0.5, 0.5]], [2, 2, 2])
    charges = np.r_[np.ones(16), -np.ones(16)]
    rng = np.random.default_rng(3)
    frac = np.stack([np.vstack([protons, rng.random((16, 3))]) for _ in range(4)])
    return lattice, charges, frac


def test_jax_float32_agrees_with_float64(bcc16):
    lattice, charges, frac = bcc16
    setup = make_ewald(lattice, charges)  # default precision (1e-6) and margin
    assert setup.n_translations == 27  # nearest images only, the work is in reciprocal space
    batch = jax.jit(jax.vmap(ewald_energy, in_axes=(None, None, 0)))
    e32 = batch(setup, jnp.asarray(lattice, jnp.float32), jnp.asarray(frac, jnp.float32))
    assert e32.dtype == jnp.float32
    e64 = [coulomb_energy(lattice, s @ lattice, charges) for s in frac]
    np.testing.assert_allclose(np.asarray(e32, dtype=np.float64), e64, rtol=1e-5)
    # Default precision in float64: converged well beyond float32 round-off, also for a deformed cell.
    lat = lattice @ np.diag([1.2, 0.8, 0.8])
    e_def = np.asarray(batch(setup, lat, frac))
    np.testing.assert_allclose(e_def, [coulomb_energy(lat, s @ lat, charges) for s in frac], rtol=1e-6)
