"""Sampled proton configurations of a run and the mean structure they define.

A run directory holds ``samples.npz`` (written by the VMC driver) with
``protons_frac`` (n_samples, n_atoms, 3) fractional coordinates,
``lattice_bohr`` (3, 3), or one lattice per sample in constant-pressure runs,
and ``numbers`` (n_atoms,) atomic numbers. Extra leading axes (steps x walkers)
are flattened into the sample axis.

The wavefunction is invariant under a common translation of all protons, so
each configuration drifts freely. Before averaging, the free translation is
removed either by moving the first proton onto its reference position (the
seed paper's choice, Sec. III B; that proton then has zero spread by
construction) or by removing the mean displacement of all protons (the centre
of mass, equal masses). Positions are unwrapped by the minimum image relative
to a reference configuration, first the first sample and then, in a second
pass, the mean itself. With a lattice per sample, fractional coordinates are
averaged and the mean structure uses the mean lattice.
"""

import dataclasses
from pathlib import Path

import numpy as np

from qsolid import lattice as lattice_module
from qsolid.analysis.crystal import Crystal
from qsolid.schema import ConfigError

ALIGNMENTS = ("first", "com")


@dataclasses.dataclass(frozen=True)
class SampleSet:
    """Proton configurations (n_samples, n_atoms, 3) with lattice(s) in bohr and atomic numbers."""

    fractional: np.ndarray
    lattices_bohr: np.ndarray
    numbers: np.ndarray

    @property
    def n_samples(self) -> int:
        return len(self.fractional)

    @property
    def constant_pressure(self) -> bool:
        return self.lattices_bohr.ndim == 3

    def lattice_per_sample(self) -> np.ndarray:
        return np.broadcast_to(self.lattices_bohr, (self.n_samples, 3, 3))

    def mean_lattice(self) -> np.ndarray:
        return self.lattices_bohr.mean(axis=0) if self.constant_pressure else self.lattices_bohr


def load_samples(path) -> SampleSet:
    """Read RUN_DIR/samples.npz (or the .npz file itself), validating shapes."""
    path = Path(path)
    file = path / "samples.npz" if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(f"path: no samples file {str(file)!r}")
    try:
        data = np.load(file, allow_pickle=False)
    except Exception as error:  # numpy raises several kinds for corrupt archives
        raise ConfigError(f"path: cannot read {file.name!r} ({error})") from error
    with data:
        missing = [key for key in ("protons_frac", "lattice_bohr") if key not in data]
        if missing:
            raise ConfigError(f"samples.npz: missing arrays {missing} (found {sorted(data.files)})")
        fractional = np.asarray(data["protons_frac"], dtype=float)
        lattices = np.asarray(data["lattice_bohr"], dtype=float)
        numbers = np.asarray(data["numbers"], dtype=int) if "numbers" in data else None
    if fractional.ndim < 2 or fractional.shape[-1] != 3:
        raise ConfigError(f"samples.npz: protons_frac must be (n_samples, n_atoms, 3), got {fractional.shape}")
    n_atoms = fractional.shape[-2]
    fractional = fractional.reshape(-1, n_atoms, 3)
    if lattices.shape[-2:] != (3, 3):
        raise ConfigError(f"samples.npz: lattice_bohr must be (3, 3) or (n_samples, 3, 3), got {lattices.shape}")
    if lattices.ndim > 2:
        lattices = lattices.reshape(-1, 3, 3)
        if len(lattices) != len(fractional):
            raise ConfigError(f"samples.npz: {len(lattices)} lattices for {len(fractional)} configurations")
    if numbers is None:
        numbers = np.ones(n_atoms, dtype=int)
    if numbers.shape != (n_atoms,):
        raise ConfigError(f"samples.npz: numbers must be ({n_atoms},), got {numbers.shape}")
    if len(fractional) == 0 or not np.all(np.isfinite(fractional)) or not np.all(np.isfinite(lattices)):
        raise ConfigError("samples.npz: protons_frac and lattice_bohr must be finite and non-empty")
    return SampleSet(fractional, lattices, numbers)


def unwrapped_samples(samples: SampleSet, align: str = "first") -> np.ndarray:
    """Fractional configurations with the free translation removed, unwrapped around their mean."""
    if align not in ALIGNMENTS:
        raise ConfigError(f"align: expected one of {ALIGNMENTS}, got {align!r}")
    reference = samples.fractional[0]
    for _ in range(2):
        displacement = lattice_module.minimum_image(samples.fractional - reference)
        # the first proton fixes the drift robustly (per-atom folding cannot split the cloud) ...
        displacement = lattice_module.minimum_image(displacement - displacement[:, :1, :])
        if align == "com":
            # ... and the centre of mass is removed from the unfolded displacements
            displacement = displacement - displacement.mean(axis=1, keepdims=True)
        unwrapped = reference + displacement
        reference = unwrapped.mean(axis=0)
    return unwrapped


@dataclasses.dataclass(frozen=True)
class MeanStructure:
    """The averaged crystal and the per-atom spread (bohr) of the aligned samples about it."""

    crystal: Crystal
    rms_spread_bohr: np.ndarray
    axis_spread_bohr: np.ndarray
    align: str
    n_samples: int


def mean_structure(samples: SampleSet, align: str = "first") -> MeanStructure:
    """Average of the aligned configurations; spread = root-mean-square deviation per atom.

    ``axis_spread_bohr`` (n_atoms, 3) is the standard deviation along Cartesian
    x, y, z of the mean lattice; ``rms_spread_bohr`` is sqrt(<|r - <r>|^2>).
    """
    unwrapped = unwrapped_samples(samples, align)
    mean = unwrapped.mean(axis=0)
    lattice = samples.mean_lattice()
    deviation = (unwrapped - mean) @ lattice
    axis_spread = np.sqrt(np.mean(deviation**2, axis=0))
    crystal = Crystal(lattice, lattice_module.wrap(mean), samples.numbers)
    return MeanStructure(crystal, np.sqrt(np.sum(axis_spread**2, axis=1)), axis_spread, align, samples.n_samples)
