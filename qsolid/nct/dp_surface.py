"""A DeePMD model file as a differentiable :class:`~qsolid.nct.surfaces.Surface`.

Needs the optional extra ``qsolid[deepmd]`` (deepmd-kit with its JAX backend);
deepmd is imported only when this module's functions run.

The model is called through its lower interface on an extended system: the
atoms plus their periodic images within r_cut + skin of the reference
structure, fixed at construction. Every extended atom is a candidate
neighbour of every atom; the model's own formatting sorts the candidates by
their current distance, keeps the nearest `sel` and masks those beyond r_cut.
The energy is then a JAX function of positions and lattice, so forces, virial
and the Hessian come from autodiff, and it is exact while every atom stays
within skin/2 of its reference site, which the driver monitors.

deepmd-kit 3.2.0's JAX backend rejects se_e2_a descriptors stored with
``type_one_side = false``; for a single atom type the one-sided form is the
same function, so the flag (and the embedding-collection rank) is flipped in
the loaded data before the JAX model is built.
"""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from qsolid import units
from qsolid.nct.surfaces import Surface


def _one_sided(descriptor: dict) -> None:
    if descriptor.get("type") == "hybrid" or "list" in descriptor:
        for sub in descriptor["list"]:
            _one_sided(sub)
        return
    if descriptor.get("type") in ("se_e2_a", "se_a") and not descriptor.get("type_one_side", True):
        if descriptor["embeddings"]["ntypes"] != 1:
            raise ValueError("deepmd: type_one_side = false is only rewritten for single-type models")
        descriptor["type_one_side"] = True
        descriptor["embeddings"]["ndim"] = 1


def load_model(path: str):
    """The deepmd-kit JAX model stored in `path`, its parameters in the current precision (cached)."""
    x64 = jax.config.jax_enable_x64
    model = _load_model(path, x64)
    jax.config.update("jax_enable_x64", x64)  # importing deepmd.jax switches the whole process to float64
    return model


@functools.lru_cache(maxsize=4)
def _load_model(path: str, x64: bool):  # x64 keys the cache: parameters are made in the precision of the call
    from deepmd.dpmodel.utils.serialization import load_dp_model
    from deepmd.jax.model.base_model import BaseModel

    data = load_dp_model(str(path))
    _one_sided(data["model"]["descriptor"])
    return BaseModel.deserialize(data["model"])


def _extended_system(reference_angstrom, lattice_angstrom, radius):
    """Periodic images within `radius` of any reference atom, local atoms first: (mapping, lattice shifts)."""
    heights = 1.0 / np.linalg.norm(np.linalg.inv(lattice_angstrom), axis=0)
    reach = np.ceil(radius / heights).astype(int)
    shifts = np.array(list(itertools.product(*[range(-m, m + 1) for m in reach])), dtype=float)
    shifts = shifts[np.argsort(np.any(shifts != 0, axis=1), kind="stable")]
    images = reference_angstrom[None, :, :] + (shifts @ lattice_angstrom)[:, None, :]
    distance = np.linalg.norm(reference_angstrom[:, None, None, :] - images[None], axis=-1)
    shift_index, atom_index = np.nonzero(np.any(distance < radius, axis=0))
    return atom_index, shifts[shift_index]


def _all_candidates(n_atoms: int, n_extended: int) -> np.ndarray:
    """Neighbour candidates: every extended atom except the atom itself."""
    others = np.arange(n_extended)[None, :].repeat(n_atoms, axis=0)
    keep = others != np.arange(n_atoms)[:, None]
    return others[keep].reshape(n_atoms, n_extended - 1)


def deepmd_surface(model_file, reference_bohr, lattice_bohr, skin_angstrom: float = 1.0) -> Surface:
    """DeePMD energy surface around a reference structure (positions and lattice rows in bohr)."""
    model = load_model(str(model_file))
    reference = np.asarray(reference_bohr) * units.BOHR_ANGSTROM
    lattice = np.asarray(lattice_bohr) * units.BOHR_ANGSTROM
    mapping, image_shifts = _extended_system(reference, lattice, model.get_rcut() + skin_angstrom)
    nlist = _all_candidates(len(reference), len(mapping))
    atom_types = jnp.zeros((1, len(mapping)), dtype=jnp.int32)
    mapping_j, shifts_j, nlist_j = jnp.asarray(mapping), jnp.asarray(image_shifts), jnp.asarray(nlist)[None]

    def energy(positions, lattice):
        positions_a = positions * units.BOHR_ANGSTROM
        lattice_a = lattice * units.BOHR_ANGSTROM
        extended = positions_a[mapping_j] + shifts_j @ lattice_a
        extended = extended[None]
        nlist = model.format_nlist(extended, atom_types, nlist_j, extra_nlist_sort=model.need_sorted_nlist_for_lower())
        atomic = model.atomic_model.forward_common_atomic(extended, atom_types, nlist, mapping=mapping_j[None])
        return units.ev_to_ha(jnp.sum(atomic["energy"]))

    return Surface(energy=energy, differentiable=True, name="deepmd")
