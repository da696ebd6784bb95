"""PNG figures of the analysis (matplotlib, Agg backend, no display needed)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (backend first)
import numpy as np  # noqa: E402

from qsolid.analysis.xrd import broadened_profile  # noqa: E402
from qsolid.units import bohr_to_angstrom  # noqa: E402


def _save(figure, path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_xrd(patterns, path, fwhm_deg: float = 0.1) -> None:
    """Several powder patterns overlaid (offset vertically), peaks broadened by Gaussians."""
    figure, axes = plt.subplots(figsize=(7, 2 + 1.2 * len(patterns)))
    low = min(p.two_theta_deg.min() for p in patterns if len(p.two_theta_deg)) - 1.0
    high = max(p.two_theta_deg.max() for p in patterns if len(p.two_theta_deg)) + 1.0
    grid = np.linspace(max(low, 0.0), high, 4000)
    for offset, pattern in enumerate(patterns):
        profile = broadened_profile(pattern, grid, fwhm_deg)
        profile = profile / max(profile.max(), 1e-12) * 100.0
        axes.plot(grid, profile + 110.0 * offset, lw=1.0,
                  label=f"{pattern.label} ({pattern.volume_per_atom_a3:.3f} Å³/atom)")
    axes.set_xlabel(f"2θ (deg), λ = {patterns[0].wavelength_angstrom:.4f} Å")
    axes.set_ylabel("intensity (offset)")
    axes.set_yticks([])
    axes.legend(fontsize=8)
    _save(figure, path)


def plot_rdf(rdf, path) -> None:
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(bohr_to_angstrom(rdf.centres_bohr), rdf.g, lw=1.2)
    axes.axhline(1.0, color="grey", lw=0.6, ls="--")
    axes.set_xlabel("r (Å)")
    axes.set_ylabel("g(r)")
    axes.set_title(f"protons, {rdf.n_samples} samples")
    _save(figure, path)


def plot_bond_lengths(edges_bohr, density_per_bohr, path) -> None:
    """Histogram given in bohr, drawn in angstrom (the density rescaled so its area stays 1)."""
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.stairs(np.asarray(density_per_bohr) / bohr_to_angstrom(1.0), bohr_to_angstrom(np.asarray(edges_bohr)),
                fill=True, alpha=0.6)
    axes.set_xlabel("H–H bond length (Å)")
    axes.set_ylabel("probability density (1/Å)")
    _save(figure, path)


def plot_orientation(distribution, path) -> None:
    """Heat map of g(theta, phi) in degrees, as in the seed paper's Fig. 3."""
    figure, axes = plt.subplots(figsize=(7, 4))
    mesh = axes.pcolormesh(np.degrees(distribution.phi_edges), np.degrees(distribution.theta_edges),
                           distribution.density, shading="flat", cmap="viridis")
    figure.colorbar(mesh, ax=axes, label="g(θ, φ) (1/sr)")
    axes.set_xlabel("φ (deg, from a)")
    axes.set_ylabel("θ (deg, from a×b)")
    axes.invert_yaxis()
    _save(figure, path)


def plot_eos(path, fits=(), points=None, experiment=None, experiment_130gpa=None) -> None:
    """P(V): fitted curves, the fitted points, experimental points and the built-in 130 GPa point."""
    figure, axes = plt.subplots(figsize=(6, 4))
    volumes = []
    if points is not None:
        axes.errorbar(points["volume"], points["pressure"], yerr=points["pressure_error"], fmt="o",
                      ms=4, label="qsolid")
        volumes.extend(points["volume"])
    if experiment is not None:
        axes.errorbar(experiment["volume"], experiment["pressure"], yerr=experiment["pressure_error"],
                      fmt="s", ms=4, mfc="none", label="experiment")
        volumes.extend(experiment["volume"])
    if experiment_130gpa is not None:
        axes.plot([experiment_130gpa["volume_a3_per_atom"]], [experiment_130gpa["pressure_gpa"]], "k*", ms=10,
                  label="Ji et al. 2019, 130 GPa")
        volumes.append(experiment_130gpa["volume_a3_per_atom"])
    if volumes:
        grid = np.linspace(0.9 * min(volumes), 1.1 * max(volumes), 200)
        for fit in fits:
            axes.plot(grid, fit.pressure(grid), lw=1.2, label=fit.form)
    axes.set_xlabel("volume (Å³/atom)")
    axes.set_ylabel("pressure (GPa)")
    axes.legend(fontsize=8)
    _save(figure, path)
