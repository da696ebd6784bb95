import numpy as np
import spglib

from qsolid import lattice as lat
from qsolid import structures
from qsolid.vmc.config import load_config
from qsolid.system import build_system
from qsolid.units import volume_from_rs


def test_pa3_is_space_group_205_with_molecules_of_the_given_bond_length():
    cell, fractional = structures.pa3(4.9, 1.38)
    dataset = spglib.get_symmetry_dataset((cell, fractional, [1] * len(fractional)), symprec=1e-5)
    assert dataset.number == 205
    assert set(dataset.wyckoffs) == {"c"}
    distances = np.sort(
        [np.linalg.norm(lat.minimum_image(fractional[j] - fractional[i]) @ cell) for i in range(8) for j in range(i)]
    )
    np.testing.assert_allclose(distances[:4], 1.38, rtol=1e-8)  # four molecules (pymatgen rounds to ~1e-10)
    assert distances[4] > 2.0  # then the intermolecular contacts


def test_pa3_system_at_given_rs_has_eight_atoms_at_that_density():
    system = build_system(load_config(overrides={"system.structure": "pa3", "system.rs": 1.5}).system)
    assert system.n_nuclei == system.n_electrons == 8
    np.testing.assert_allclose(system.volume_bohr3, 8 * volume_from_rs(1.5), rtol=1e-12)
    np.testing.assert_allclose(lat.minimum_distance(system.lattice, system.nuclear_fractional), 1.4011, rtol=1e-8)
