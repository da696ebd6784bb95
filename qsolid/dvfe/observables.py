"""The proton pair distribution g(r) and structure factor S(k) of a dvfe run (evaluation phase).

For N protons in the cubic box of side L (volume Omega) and configurations X ~ p:

* g(r) on shells [r_k, r_k+1) up to the inscribed radius L/2 (minimum-image distances are exact
  there), with the normalisation of qsolid.analysis.rdf:

      g_k = < n_k(X) > / ( N (N - 1)/2 * (4 pi / 3)(r_k+1^3 - r_k^3) / Omega ),

  n_k the unordered pairs in shell k (denominator: rdf.ideal_pair_counts), so g = 1 for the ideal gas;
* S(k) on the smallest shells of the box's reciprocal vectors k = 2 pi m / L (m integer, not 0), the
  estimator of qsolid.structure_factor with unit charges:

      S(k) = ( <|rho_k|^2> - |<rho_k>|^2 ) / N,   rho_k = sum_I exp(-i k . x_I).

  Every flow density is translation invariant, so <rho_k> = 0 and the subtracted Bragg part is only
  the noise of its estimate (N / (samples) relative, 1e-4 for 8192 configurations); for uniform
  independent points <|rho_k|^2> = N exactly, S = 1.

Accumulation. Inside the jitted evaluation step (training.make_step's `measure`), the step's B
independent configurations are reduced on device to per-step arrays: the pair counts in each shell
and structure_factor.step_values (<|rho_k|^2> per shell, <rho_k> per vector). The driver stores them
row by row in arrays of shape (evaluation steps, ...) that are part of its checkpointed state, so a
resumed run reloads the rows done and recomputes the others with the same random keys: its arrays
equal an uninterrupted run's bit for bit. This was chosen over saving the evaluation samples because
the per-step arrays are small (tens of numbers per step against B N 3 coordinates), nothing but them
leaves the device, and g(r) and S(k) get their error bars like F, E, S and P: reblocked over the
evaluation steps (independent batches without electrons; with them, Markov chains whose correlation
the reblocking measures).
"""

import dataclasses
import functools
from pathlib import Path

import numpy as np

from qsolid import lattice as lattice_module
from qsolid import rundir, structure_factor
from qsolid.analysis.rdf import ideal_pair_counts
from qsolid.stats import reblock

RDF_BINS = 40
"""Shells of g(r) between 0 and the inscribed radius L/2."""
STRUCTURE_FACTOR_SHELLS = 6
"""Smallest reciprocal shells of S(k); in a cubic box |m|^2 = 1, 2, 3, 4, 5, 6."""
STRUCTURE_FILE = "structure.npz"
SERIES = ("pair_counts", "rho_sq", "rho_re", "rho_im")


@dataclasses.dataclass(frozen=True)
class ProtonStructure:
    """g(r) and S(k) of N protons in a cubic box: the per-step measurement, its series and their summary.

    Hashable, so it can be an argument of the cached training.make_step.
    """

    box_length_bohr: float
    n_atoms: int
    n_bins: int = RDF_BINS
    n_shells: int = STRUCTURE_FACTOR_SHELLS

    @property
    def lattice_bohr(self) -> np.ndarray:
        return self.box_length_bohr * np.eye(3)

    @property
    def volume_bohr3(self) -> float:
        return self.box_length_bohr**3

    @property
    def edges_bohr(self) -> np.ndarray:
        return np.linspace(0.0, lattice_module.inscribed_radius(self.lattice_bohr), self.n_bins + 1)

    @functools.cached_property
    def shells(self):
        """(modes m, shell index of each mode, |k| of each shell) of structure_factor.shells."""
        return structure_factor.shells(self.lattice_bohr, self.n_shells)

    def __call__(self, positions) -> dict:
        """Per-step values of a batch of positions (B, N, 3) in bohr, traceable (runs inside the jitted step)."""
        import jax.numpy as jnp

        fractional = positions / self.box_length_bohr
        upper = np.triu_indices(self.n_atoms, k=1)
        separation = lattice_module.minimum_image(fractional[:, upper[0]] - fractional[:, upper[1]])
        distances = self.box_length_bohr * jnp.linalg.norm(separation, axis=-1)
        counts, _ = jnp.histogram(distances.ravel(), bins=jnp.asarray(self.edges_bohr, positions.dtype))
        modes, shell_index, shell_k = self.shells
        density = structure_factor.step_values(fractional, None, None, False, modes, shell_index, len(shell_k))
        return {"pair_counts": counts.astype(positions.dtype) / positions.shape[0], **density}

    def empty(self, steps: int) -> dict:
        """Zeroed per-step series for `steps` evaluation steps (part of the driver's checkpointed state)."""
        n_modes = len(self.shells[0])
        sizes = {"pair_counts": self.n_bins, "rho_sq": self.n_shells, "rho_re": n_modes, "rho_im": n_modes}
        return {name: np.zeros((steps, sizes[name])) for name in SERIES}

    @staticmethod
    def record(series: dict, row: int, values: dict) -> None:
        """Store one evaluation step's values (host arrays) in row `row` of the series, in place."""
        for name in SERIES:
            series[name][row] = np.asarray(values[name], dtype=np.float64)

    def summarise(self, series: dict) -> dict:
        """g(r) with reblocked errors (bins of the inscribed sphere) and S(k) per shell (structure_factor.summarise)."""
        edges = self.edges_bohr
        out = {"edges_bohr": edges, "r_bohr": 0.5 * (edges[1:] + edges[:-1])}
        if self.n_atoms >= 2:
            g_steps = np.asarray(series["pair_counts"]) / ideal_pair_counts(edges, self.n_atoms, self.volume_bohr3)
            estimates = [reblock(g_steps[:, k]) for k in range(self.n_bins)]
            out["g"] = np.array([e.mean for e in estimates])
            out["g_error"] = np.array([e.error for e in estimates])
        _, shell_index, shell_k = self.shells
        table = structure_factor.summarise(series["rho_sq"], series["rho_re"], series["rho_im"], shell_index, shell_k,
                                           self.n_atoms, self.volume_bohr3)["structure_factor"]
        out["k_bohr_inv"] = np.array([row["k_bohr_inv"] for row in table])
        out["s"] = np.array([row["s"] for row in table])
        out["s_error"] = np.array([row["s_error"] for row in table])
        out["vectors"] = np.array([row["vectors"] for row in table])
        return out

    def write(self, run_dir, series: dict) -> dict:
        """structure.npz and g_of_r.png in run_dir; returns the summary.json entries (S(k) table, g(r) peak)."""
        from qsolid.dvfe import plots

        run_dir = Path(run_dir)
        result = self.summarise(series)
        rundir.atomic_write_npz(run_dir / STRUCTURE_FILE, **result)
        plots.structure(run_dir / "g_of_r.png", result)
        entries = {"structure_factor": [
            {"k_bohr_inv": float(k), "vectors": int(v), "s": float(s), "s_error": float(e)}
            for k, v, s, e in zip(result["k_bohr_inv"], result["vectors"], result["s"], result["s_error"])]}
        if "g" in result:
            peak = int(np.argmax(result["g"]))
            entries.update(pair_distribution_peak_bohr=float(result["r_bohr"][peak]),
                           pair_distribution_peak=float(result["g"][peak]),
                           pair_distribution_r_max_bohr=float(result["edges_bohr"][-1]))
        return entries


def read(run_dir) -> dict:
    """The arrays of RUN_DIR/structure.npz: r_bohr, edges_bohr, g, g_error, k_bohr_inv, s, s_error, vectors."""
    with np.load(Path(run_dir) / STRUCTURE_FILE, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
