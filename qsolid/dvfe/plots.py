"""The training-curve plot (F, E, S, P against step) of a dvfe run."""

import numpy as np


def training_curves(path, columns: dict) -> None:
    """training.png: per-step batch means with their batch standard-error bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("free_energy", "F (Ha/atom)"), ("energy", "E (Ha/atom)"), ("entropy", "S (k_B/atom)"),
              ("pressure_gpa", "P (GPa)"))
    step = np.asarray(columns["step"])
    evaluation = np.asarray(columns["phase"]) == 1
    figure, axes = plt.subplots(2, 2, figsize=(9, 6), sharex=True)
    for axis, (name, label) in zip(axes.ravel(), panels):
        mean, error = np.asarray(columns[name]), np.asarray(columns[f"{name}_error"])
        axis.plot(step, mean, lw=0.8)
        axis.fill_between(step, mean - error, mean + error, alpha=0.3)
        if evaluation.any():
            axis.axvspan(step[evaluation][0], step[evaluation][-1], color="0.9", zorder=0, label="evaluation")
        axis.set_ylabel(label)
    for axis in axes[1]:
        axis.set_xlabel("step")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
