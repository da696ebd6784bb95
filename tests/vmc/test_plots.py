"""Training plots: lengths and volumes drawn in angstrom (the unit of the console and report)."""

import matplotlib.figure
import numpy as np
import pytest

from qsolid.vmc import plots
from qsolid.analysis import plots as analysis_plots
from qsolid.units import BOHR_ANGSTROM

COLUMNS = "step,energy_ha,variance_ha2,acceptance,electron_step_bohr,a_bohr,b_bohr,c_bohr,volume_per_atom_bohr3,enthalpy_ha"


@pytest.fixture
def saved(monkeypatch):
    """The figures the plotting functions save, with their axes' labels and line data."""
    figures = {}

    def savefig(self, path, **kwargs):
        figures[str(path).rsplit("/", 1)[-1]] = self

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return figures


def test_cell_plot_in_angstrom(tmp_path, saved):
    rows = [f"{s},-1,0.1,0.5,0.3,{3.0 + 0.1 * s},3.0,3.0,{13.5 + s},-1" for s in range(5)]
    (tmp_path / "stats.csv").write_text(COLUMNS + "\n" + "\n".join(rows) + "\n")
    plots.plot_training(tmp_path)
    lengths, volume = saved["cell.png"].axes[:2]
    assert lengths.get_ylabel() == "length (Å)" and volume.get_ylabel() == "volume (Å$^3$/atom)"
    np.testing.assert_allclose(lengths.lines[0].get_ydata(), (3.0 + 0.1 * np.arange(5)) * BOHR_ANGSTROM)
    np.testing.assert_allclose(volume.lines[0].get_ydata(), (13.5 + np.arange(5)) * BOHR_ANGSTROM**3)


def test_rdf_and_bond_length_plots_in_angstrom(tmp_path, saved):
    class Rdf:
        centres_bohr = np.linspace(0.5, 3.0, 6)
        g = np.ones(6)
        n_samples = 10

    analysis_plots.plot_rdf(Rdf, tmp_path / "rdf.png")
    axes = saved["rdf.png"].axes[0]
    assert axes.get_xlabel() == "r (Å)"
    np.testing.assert_allclose(axes.lines[0].get_xdata(), Rdf.centres_bohr * BOHR_ANGSTROM)

    edges_bohr = np.array([1.2, 1.3, 1.4, 1.5])
    density_per_bohr = np.array([2.0, 5.0, 3.0])  # area 1 in bohr
    analysis_plots.plot_bond_lengths(edges_bohr, density_per_bohr, tmp_path / "bond_length.png")
    axes = saved["bond_length.png"].axes[0]
    assert axes.get_xlabel() == "H–H bond length (Å)" and axes.get_ylabel() == "probability density (1/Å)"
    values, edges, _ = axes.patches[0].get_data()  # StepPatch: (values, edges, baseline)
    np.testing.assert_allclose(edges, edges_bohr * BOHR_ANGSTROM)
    assert np.sum(values * np.diff(edges)) == pytest.approx(1.0)  # still normalised in angstrom


def test_a_constant_or_rewound_energy_draws_without_warnings(tmp_path, saved):
    """One step, a constant energy or a non-finite row left the energy axis with equal or NaN limits."""
    import warnings

    rows = [f"{s},{'nan' if s == 2 else -1},0.1,0.5,0.3,3.0,3.0,3.0,13.5,-1" for s in range(5)]
    (tmp_path / "stats.csv").write_text(COLUMNS + "\n" + "\n".join(rows) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.plot_training(tmp_path)
    assert "training.png" in saved
