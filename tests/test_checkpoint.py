"""Checkpoint integrity: a truncated or altered file is recognised by its checksum and skipped."""

import logging

import numpy as np
import pytest

from qsolid import checkpoint
from qsolid.schema import ConfigError


def _tree(value):
    return {"params": {"w": np.full((3, 4), value, np.float32), "b": np.arange(5.0)}, "walkers": np.ones((2, 6))}


def _save_steps(directory, steps):
    for step in steps:
        checkpoint.save(checkpoint.step_path(directory, step), _tree(float(step)), {"step": step})


def test_round_trip_verifies_and_strips_the_checksum(tmp_path):
    path = tmp_path / "c.npz"
    checkpoint.save(path, _tree(1.5), {"step": 7})
    tree, metadata = checkpoint.load(path, _tree(0.0))
    assert metadata == {"step": 7}
    np.testing.assert_array_equal(tree["params"]["w"], np.full((3, 4), 1.5, np.float32))


def test_checksum_sees_one_changed_element_dtype_and_shape():
    arrays = checkpoint.flatten(_tree(1.0))
    reference = checkpoint.checksum(arrays)
    changed = dict(arrays, **{"params/b": arrays["params/b"].copy()})
    changed["params/b"][3] += 1e-12
    assert checkpoint.checksum(changed) != reference
    assert checkpoint.checksum(dict(arrays, **{"params/b": arrays["params/b"].astype(np.float32)})) != reference
    assert checkpoint.checksum(dict(arrays, **{"walkers": arrays["walkers"].reshape(6, 2)})) != reference


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "flip_array_bytes"])
def test_damaged_newest_checkpoint_falls_back_to_previous_with_warning(tmp_path, caplog, damage):
    _save_steps(tmp_path, (10, 20, 30))
    newest = checkpoint.step_path(tmp_path, 30)
    data = newest.read_bytes()
    if damage == "truncate":
        newest.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        newest.write_bytes(b"not a zip file at all")
    elif damage == "empty":
        newest.write_bytes(b"")
    else:
        # np.savez stores members uncompressed: overwrite the float32 block of w (value 30.0) in place,
        # keeping the zip structure valid except for the member's CRC.
        needle = np.full(12, 30.0, np.float32).tobytes()
        start = data.index(needle)
        newest.write_bytes(data[:start] + np.full(12, 31.0, np.float32).tobytes() + data[start + len(needle):])
    with pytest.raises(checkpoint.CorruptCheckpoint):
        checkpoint.load_arrays(newest)
    with caplog.at_level(logging.WARNING, logger="qsolid"):
        assert checkpoint.latest_valid(tmp_path) == checkpoint.step_path(tmp_path, 20)
    assert "step_00000030.npz" in caplog.text
    assert newest.exists()  # kept for inspection, never deleted


def test_checksum_mismatch_with_a_valid_zip(tmp_path):
    """An altered payload whose zip is intact (re-saved arrays under the old metadata) fails the checksum."""
    path = tmp_path / "c.npz"
    checkpoint.save(path, _tree(1.0), {"step": 1})
    arrays, _ = checkpoint.load_arrays(path)
    with np.load(path) as data:
        metadata_bytes = data["__metadata__"]
    arrays["params/w"] = arrays["params/w"] * 2
    np.savez(path, __metadata__=metadata_bytes, **arrays)
    with pytest.raises(checkpoint.CorruptCheckpoint, match="checksum mismatch"):
        checkpoint.load_arrays(path)


def test_no_valid_checkpoint_is_a_config_error_and_none_at_all_is_none(tmp_path):
    assert checkpoint.latest_valid(tmp_path / "missing") is None
    assert checkpoint.latest_valid(tmp_path) is None
    checkpoint.step_path(tmp_path, 5).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ConfigError, match="checkpoints: no valid checkpoint"):
        checkpoint.latest_valid(tmp_path)


def test_checkpoint_without_checksum_from_an_older_version_still_loads(tmp_path):
    path = tmp_path / "old.npz"
    arrays = checkpoint.flatten(_tree(2.0))
    np.savez(path, __metadata__=np.frombuffer(b'{"step": 3}', np.uint8), **arrays)
    assert checkpoint.load_arrays(path)[1] == {"step": 3}
