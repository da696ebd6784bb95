"""Training curves of a run directory as PNG files (matplotlib, no display needed)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from qsolid.rundir import read_stats  # noqa: E402
from qsolid.schema import ConfigError  # noqa: E402
from qsolid.units import bohr3_to_angstrom3, bohr_to_angstrom  # noqa: E402

PANELS = (
    ("energy_ha", "energy (Ha / cell)"),
    ("variance_ha2", "variance (Ha$^2$)"),
    ("acceptance", "acceptance"),
    ("electron_step_bohr", "electron step (bohr)"),
)


def running_mean(values, window: int):
    values = np.asarray(values, dtype=float)
    window = max(1, min(window, len(values)))
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_training(run_dir) -> list[Path]:
    """Write RUN_DIR/plots/training.png; returns the written paths."""
    run_dir = Path(run_dir)
    stats = read_stats(run_dir / "stats.csv")
    if not stats:
        raise ConfigError(f"stats.csv: {run_dir / 'stats.csv'} has no steps to plot")
    cell = ("a_bohr", "b_bohr", "c_bohr", "volume_per_atom_bohr3", "enthalpy_ha")
    for column in ("step", *(c for c, _ in PANELS), *cell):
        if column not in stats or isinstance(stats[column][0], str):
            raise ConfigError(f"stats.csv: {run_dir / 'stats.csv'} has no numeric column '{column}'")
    out = run_dir / "plots"
    try:
        out.mkdir(exist_ok=True)
    except OSError as error:
        raise ConfigError(f"plot: cannot create {out} ({error.strerror})") from None
    steps = np.asarray(stats["step"])
    figure, axes = plt.subplots(len(PANELS), 1, figsize=(7, 2.4 * len(PANELS)), sharex=True)
    for axis, (column, label) in zip(axes, PANELS):
        values = np.asarray(stats[column])
        axis.plot(steps, values, lw=0.6, alpha=0.5)
        window = max(1, len(values) // 20)
        if window > 1:
            axis.plot(steps[window - 1 :], running_mean(values, window), lw=1.5, label=f"mean of {window}")
            axis.legend(loc="upper right", fontsize=8)
        axis.set_ylabel(label)
        if column == "variance_ha2":
            axis.set_yscale("log")
    axes[-1].set_xlabel("optimisation step")
    energy = np.asarray(stats["energy_ha"], dtype=float)
    energy = energy[np.isfinite(energy)]
    tail = energy[len(energy) // 2 :]
    if len(tail):
        low, high = np.percentile(tail, 1) - 5 * np.std(tail), max(np.percentile(energy, 95), np.max(tail))
        if high > low:  # one step, or a constant energy, leaves the automatic limits
            axes[0].set_ylim(low, high)
    figure.tight_layout()
    path = out / "training.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    paths = [path]
    if len(set(stats["volume_per_atom_bohr3"])) > 1:
        paths.append(plot_cell(stats, out / "cell.png"))
    return paths


def plot_cell(stats, path) -> Path:
    """Lattice lengths, volume per atom and enthalpy against step (like the paper's Fig. S3)."""
    steps = np.asarray(stats["step"])
    figure, axes = plt.subplots(3, 1, figsize=(7, 7.2), sharex=True)
    for column, label in (("a_bohr", "a"), ("b_bohr", "b"), ("c_bohr", "c")):
        axes[0].plot(steps, bohr_to_angstrom(np.asarray(stats[column])), label=label)
    axes[0].set_ylabel("length (Å)")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[1].plot(steps, bohr3_to_angstrom3(np.asarray(stats["volume_per_atom_bohr3"])))
    axes[1].set_ylabel("volume (Å$^3$/atom)")
    enthalpy = np.asarray(stats["enthalpy_ha"])
    axes[2].plot(steps, enthalpy, lw=0.6, alpha=0.5)
    window = max(1, len(enthalpy) // 20)
    if window > 1:
        axes[2].plot(steps[window - 1 :], running_mean(enthalpy, window), lw=1.5)
    axes[2].set_ylabel("enthalpy (Ha / cell)")
    axes[2].set_xlabel("step")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
