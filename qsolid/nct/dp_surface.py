"""A DeePMD model file as a differentiable :class:`~qsolid.nct.surfaces.Surface`.

Needs the optional extra ``qsolid[deepmd]`` (deepmd-kit with its JAX backend);
deepmd is imported only when this module's functions run.

The model is called through its lower interface on an extended system (the
atoms plus the periodic images within r_cut + skin of the reference
structure) with a neighbour list fixed at construction. The energy is then a
JAX function of positions and cell, so forces, virial and the Hessian come
from autodiff. The fixed topology is exact while every atom stays within
skin/2 of its reference site (neighbours beyond r_cut are masked by the
model), which the driver monitors.

deepmd-kit 3.2.0's JAX backend rejects se_e2_a descriptors stored with
``type_one_side = false``; for a single atom type the one-sided form is the
same function, so the flag (and the embedding-collection rank) is flipped in
the loaded data before the JAX model is built.
"""

import functools
import itertools

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


@functools.lru_cache(maxsize=4)
def load_model(path: str):
    """The deepmd-kit JAX model stored in `path` (cached per path)."""
    from deepmd.dpmodel.utils.serialization import load_dp_model
    from deepmd.jax.model.base_model import BaseModel

    data = load_dp_model(str(path))
    _one_sided(data["model"]["descriptor"])
    return BaseModel.deserialize(data["model"])


def _topology(reference_angstrom, cell_angstrom, radius):
    """Periodic images within `radius` of any atom, local atoms first, and candidate neighbour lists."""
    n_atoms = len(reference_angstrom)
    heights = 1.0 / np.linalg.norm(np.linalg.inv(cell_angstrom), axis=0)
    reach = np.ceil(radius / heights).astype(int)
    shifts = np.array(list(itertools.product(*[range(-m, m + 1) for m in reach])), dtype=float)
    shifts = shifts[np.argsort(np.any(shifts != 0, axis=1), kind="stable")]
    images = reference_angstrom[None, :, :] + (shifts @ cell_angstrom)[:, None, :]
    distance = np.linalg.norm(reference_angstrom[:, None, None, :] - images[None], axis=-1)
    keep = np.any(distance < radius, axis=0)
    shift_index, atom_index = np.nonzero(keep)
    mapping, image_shifts = atom_index, shifts[shift_index]
    extended = reference_angstrom[mapping] + image_shifts @ cell_angstrom
    distance = np.linalg.norm(reference_angstrom[:, None, :] - extended[None], axis=-1)
    distance[np.arange(n_atoms), np.arange(n_atoms)] = np.inf
    candidates = [np.nonzero(row < radius)[0] for row in distance]
    width = max(len(c) for c in candidates)
    nlist = -np.ones((n_atoms, width), dtype=np.int64)
    for i, c in enumerate(candidates):
        nlist[i, : len(c)] = c
    return mapping, image_shifts, nlist


def deepmd_surface(model_file, reference_bohr, cell_bohr, skin_angstrom: float = 1.0) -> Surface:
    """DeePMD energy surface around a reference structure (positions and cell in bohr)."""
    model = load_model(str(model_file))
    reference = np.asarray(reference_bohr) * units.BOHR_ANGSTROM
    cell = np.asarray(cell_bohr) * units.BOHR_ANGSTROM
    mapping, image_shifts, nlist = _topology(reference, cell, model.get_rcut() + skin_angstrom)
    if nlist.shape[1] > sum(model.get_sel()):
        raise ValueError("deepmd: more candidate neighbours than the model's sel; reduce skin_angstrom")
    atom_types = jnp.zeros((1, len(mapping)), dtype=jnp.int32)
    mapping_j, shifts_j, nlist_j = jnp.asarray(mapping), jnp.asarray(image_shifts), jnp.asarray(nlist)[None]

    def energy(positions, cell):
        positions_a = positions * units.BOHR_ANGSTROM
        cell_a = cell * units.BOHR_ANGSTROM
        extended = positions_a[mapping_j] + shifts_j @ cell_a
        extended = extended[None]
        nlist = model.format_nlist(extended, atom_types, nlist_j, extra_nlist_sort=model.need_sorted_nlist_for_lower())
        atomic = model.atomic_model.forward_common_atomic(extended, atom_types, nlist, mapping=mapping_j[None])
        return units.ev_to_ha(jnp.sum(atomic["energy"]))

    return Surface(energy=energy, differentiable=True, name="deepmd")
