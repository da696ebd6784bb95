"""PNG plots of a run (matplotlib, Agg backend).

training.png: F per step with its walker error band and the harmonic F;
phonon_dos.png: harmonic vs anharmonic phonon DOS (seed 003, Fig. 1c);
rdf.png: g(r) of the sampled atoms (Fig. 1b).
"""

import numpy as np

from qsolid.nct import observables


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def training_curves(path, stats: dict, summary: dict, scale: float) -> None:
    plt = _pyplot()
    step = np.asarray(stats["step"])
    free = np.asarray(stats["free_energy"]) * scale
    error = np.asarray(stats["free_energy_error"]) * scale
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(step, free, lw=0.8, label="F (per step)")
    axis.fill_between(step, free - error, free + error, alpha=0.3, lw=0)
    axis.axhline(summary["harmonic_free_energy"], color="k", ls="--", lw=0.8, label="harmonic F")
    axis.axhline(summary["free_energy"], color="C3", lw=0.8, label="final F")
    low, high = np.percentile(free, [2, 100])
    pad = 0.2 * (high - low) + 1e-12
    axis.set_ylim(min(low, summary["harmonic_free_energy"]) - pad, max(high, summary["harmonic_free_energy"]) + pad)
    axis.set_xlabel("step")
    axis.set_ylabel(f"F ({summary['energy_unit']} per {summary['per']})")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def density_of_states(path, phonon_data: dict, per: int) -> None:
    plt = _pyplot()
    harmonic = np.asarray(phonon_data["harmonic_frequencies"])
    anharmonic = np.asarray(phonon_data["anharmonic_frequencies"])
    top = 1.2 * max(harmonic.max(), anharmonic.max())
    grid = np.linspace(0.0, top, 400)
    width = top / 60.0
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(grid, observables.density_of_states(harmonic, grid, width) / per, label="harmonic")
    axis.plot(grid, observables.density_of_states(anharmonic, grid, width) / per, label="anharmonic")
    axis.set_xlabel(f"frequency ({phonon_data['frequency_unit']})")
    axis.set_ylabel("DOS per atom" if per > 1 else "DOS")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def radial_distribution(path, r, g) -> None:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(r, g)
    axis.set_xlabel("r (angstrom)")
    axis.set_ylabel("g(r)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
