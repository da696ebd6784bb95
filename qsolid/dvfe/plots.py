"""The plots of a dvfe run: training curves (F, E, S, P against step), g(r) and S(k)."""

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


def structure(path, result: dict) -> None:
    """g_of_r.png: g(r) (bohr) and S(k) of the evaluation phase with their error bars (qsolid.dvfe.observables)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    if "g" in result:
        r, g, error = result["r_bohr"], result["g"], result["g_error"]
        left.plot(r, g, lw=1.2)
        left.fill_between(r, g - error, g + error, alpha=0.3)
    left.axhline(1.0, color="0.6", lw=0.8)
    left.set_xlabel("r (bohr)")
    left.set_ylabel("g(r)")
    right.errorbar(result["k_bohr_inv"], result["s"], yerr=result["s_error"], fmt="o", ms=4)
    right.axhline(1.0, color="0.6", lw=0.8)
    right.set_xlabel("k (1/bohr)")
    right.set_ylabel("S(k)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
