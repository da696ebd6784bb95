"""Portable, atomic checkpoints of pytrees (no pickle).

A checkpoint is an ``.npz`` file whose keys are the pytree paths of the
leaves (``params/electrons/layers/0/w``), plus a JSON ``metadata`` entry.
Arrays are gathered to the host first (from every process of a multi-process
run; qsolid.distributed), so a checkpoint written with walkers sharded over
several devices loads on any device and process count. Loading needs a
template pytree with the same structure (made by the same init functions).

Integrity: the metadata carries the SHA-256 of the arrays (keys, dtypes,
shapes and bytes in key order), checked on every load, so a truncated or
corrupted file is recognised as such (:class:`CorruptCheckpoint`) whatever the
zip reader makes of it. :func:`latest_valid` skips such files, with a logged
warning, and returns the newest checkpoint that passes.
"""

import hashlib
import io
import json
import logging
import re
import zipfile
from pathlib import Path

import jax
import numpy as np

from qsolid.distributed import to_host
from qsolid.rundir import atomic_write_bytes, remove_temporaries, writes
from qsolid.schema import ConfigError

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
    return {_key(path): to_host(leaf) for path, leaf in leaves}


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


class CorruptCheckpoint(ValueError):
    """A checkpoint file that cannot be read or whose arrays fail their checksum."""


_CHECKSUM = "sha256"


def checksum(arrays: dict) -> str:
    """SHA-256 over the arrays' keys, dtypes, shapes and bytes, in key order."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}\0{value.dtype.str}\0{value.shape}\0".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def save(path, tree, metadata: dict) -> None:
    """Write `tree` and JSON `metadata` (plus the arrays' checksum) atomically to `path`."""
    arrays = flatten(tree)  # every process takes part in gathering the walkers; one writes
    if not writes():
        return
    buffer = io.BytesIO()
    metadata = {**metadata, _CHECKSUM: checksum(arrays)}
    arrays["__metadata__"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_arrays(path):
    """All arrays of a checkpoint, keyed by pytree path, and its metadata (checksum verified).

    Raises CorruptCheckpoint for an unreadable, truncated or altered file.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        metadata = json.loads(arrays.pop("__metadata__").tobytes().decode())
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as error:
        # np.load reports a damaged zip as BadZipFile, a damaged member as ValueError/EOFError.
        raise CorruptCheckpoint(f"{Path(path).name}: unreadable ({type(error).__name__}: {error})") from None
    if not isinstance(metadata, dict):
        raise CorruptCheckpoint(f"{Path(path).name}: its metadata is not a JSON object")
    # Checkpoints written before checksums existed rely on the zip members' CRC alone.
    expected = metadata.pop(_CHECKSUM, None)
    if expected is not None and checksum(arrays) != expected:
        raise CorruptCheckpoint(f"{Path(path).name}: checksum mismatch (the file was altered or truncated)")
    return arrays, metadata


def load(path, template):
    """Read a checkpoint into a pytree shaped like `template`; returns (tree, metadata)."""
    arrays, metadata = load_arrays(path)
    return unflatten(template, arrays), metadata


def step_path(directory, step: int) -> Path:
    return Path(directory) / f"step_{step:08d}.npz"


def _steps(directory) -> list:
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in directory.iterdir() if (m := _STEP_FILE.search(p.name)))


def latest(directory):
    """The checkpoint with the highest step in `directory`, or None (unverified; see latest_valid)."""
    found = _steps(directory)
    return found[-1][1] if found else None


def latest_valid(directory, logger: logging.Logger | None = None):
    """The newest checkpoint in `directory` that loads and passes its checksum, or None if there is none.

    Each newer checkpoint skipped is reported as a warning on `logger` (default: the "qsolid"
    logger) once a valid one is found. Nothing is deleted: a skipped file stays for inspection and is replaced when the
    run reaches its step again. Raises ConfigError when step checkpoints exist but none is
    valid, so a damaged run is never silently restarted from scratch.
    """
    logger = logger or logging.getLogger("qsolid")
    found = _steps(directory)
    reasons = []
    for _, path in reversed(found):
        try:
            load_arrays(path)
        except CorruptCheckpoint as error:
            reasons.append(str(error))
            continue
        for reason in reasons:
            logger.warning("skipping corrupt checkpoint %s", reason)
        if reasons:
            logger.warning("using %s, the newest valid checkpoint", path.name)
        return path
    if found:
        raise ConfigError(f"checkpoints: no valid checkpoint in {directory} ({reasons[0]})")
    return None


def prune(directory, keep: int) -> None:
    """Delete all but the `keep` most recent step checkpoints (and temporary files a failed write left)."""
    directory = Path(directory)
    if not writes():
        return
    remove_temporaries(directory)
    found = sorted((int(m.group(1)), p) for p in directory.iterdir() if (m := _STEP_FILE.search(p.name)))
    for _, path in found[:-keep] if keep > 0 else []:
        path.unlink(missing_ok=True)
