"""Portable, atomic checkpoints of pytrees (no pickle).

A checkpoint is an ``.npz`` file whose keys are the pytree paths of the
leaves (``params/electrons/layers/0/w``), plus a JSON ``metadata`` entry.
Arrays are gathered to the host first, so a checkpoint written with walkers
sharded over several devices loads on any device count. Loading needs a
template pytree with the same structure (made by the same init functions).
"""

import io
import json
import re
from pathlib import Path

import jax
import numpy as np

from qsolid.rundir import atomic_write_bytes

_STEP_FILE = re.compile(r"step_(\d{8})\.npz$")


def _key(path) -> str:
    parts = []
    for entry in path:
        for attribute in ("key", "idx", "name"):
            if hasattr(entry, attribute):
                parts.append(str(getattr(entry, attribute)))
                break
        else:
            parts.append(str(entry))
    return "/".join(parts)


def flatten(tree) -> dict:
    """Map from pytree path strings to host NumPy arrays."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {_key(path): np.asarray(jax.device_get(leaf)) for path, leaf in leaves}


def unflatten(template, arrays: dict, prefix: str = ""):
    """Rebuild a pytree shaped like `template` from `flatten` output (keys under `prefix`)."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for path, leaf in paths:
        key = prefix + _key(path)
        if key not in arrays:
            raise ValueError(f"checkpoint: missing array '{key}'")
        value = arrays[key]
        if np.shape(value) != np.shape(leaf):
            raise ValueError(f"checkpoint: '{key}' has shape {np.shape(value)}, expected {np.shape(leaf)}")
        leaves.append(value)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def save(path, tree, metadata: dict) -> None:
    """Write `tree` and JSON `metadata` atomically to `path`."""
    buffer = io.BytesIO()
    arrays = flatten(tree)
    arrays["__metadata__"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_arrays(path):
    """All arrays of a checkpoint, keyed by pytree path, and its metadata."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    metadata = json.loads(arrays.pop("__metadata__").tobytes().decode())
    return arrays, metadata


def load(path, template):
    """Read a checkpoint into a pytree shaped like `template`; returns (tree, metadata)."""
    arrays, metadata = load_arrays(path)
    return unflatten(template, arrays), metadata


def step_path(directory, step: int) -> Path:
    return Path(directory) / f"step_{step:08d}.npz"


def latest(directory):
    """The checkpoint with the highest step in `directory`, or None."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    found = sorted((int(m.group(1)), p) for p in directory.iterdir() if (m := _STEP_FILE.search(p.name)))
    return found[-1][1] if found else None


def prune(directory, keep: int) -> None:
    """Delete all but the `keep` most recent step checkpoints."""
    directory = Path(directory)
    found = sorted((int(m.group(1)), p) for p in directory.iterdir() if (m := _STEP_FILE.search(p.name)))
    for _, path in found[:-keep] if keep > 0 else []:
        path.unlink(missing_ok=True)
