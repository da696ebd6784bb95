"""The full analysis of a run directory or a structure file, written to an output directory.

``analyze(path, out, options)`` is what ``qsolid analyze`` runs:

1. the crystal: the mean structure of RUN_DIR/samples.npz (qsolid.analysis.samples)
   or a structure file; RUN_DIR/final.cif is used when there are no samples;
2. its space group, Wyckoff sites and standardized cell (qsolid.analysis.symmetry);
3. H2 molecules and the Wyckoff sites of their centres (qsolid.analysis.molecules);
4. Gamma-point modes with IR/Raman activity (qsolid.analysis.modes);
5. the powder pattern of the symmetrized structure (qsolid.analysis.xrd);
6. from samples: g(r), bond lengths and g(theta, phi) (rdf, orientation);
7. equation-of-state fits when (P, V) points are given (qsolid.analysis.eos);

and writes analysis.json, CSV tables, PNG plots and summary.md into the output
directory (default RUN_DIR/analysis/, or <stem>_analysis/ beside a file). Every
input is read and checked first; the outputs are written to a temporary
directory beside it and moved in only when the whole analysis succeeded, so a
failure leaves no partial output and no empty folder.
"""

import contextlib
import csv
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from qsolid import lattice as lattice_module
from qsolid.analysis import eos, plots, xrd
from qsolid.analysis.crystal import Crystal, read_structure
from qsolid.analysis.geometry import distance_matrix
from qsolid.analysis.modes import ROWS, gamma_modes
from qsolid.analysis.molecules import DEFAULT_MIN_RATIO, pair_molecules, sampled_bond_vectors
from qsolid.analysis.orientation import orientation_distribution, orientation_summary
from qsolid.analysis.rdf import probability_density, radial_distribution
from qsolid.analysis.samples import load_samples, mean_structure
from qsolid.analysis.symmetry import (
    DEFAULT_SYMPREC_FILE_ANGSTROM,
    DEFAULT_SYMPREC_SAMPLES_ANGSTROM,
    centre_sites,
    find_symmetry,
    symmetry_scan,
    wyckoff_counts,
)
from qsolid.schema import ConfigError
from qsolid.units import BOHR_ANGSTROM

RDF_MAX_SAMPLES = 5000
"""g(r) uses at most this many configurations, evenly strided (the histogram converges long before)."""


@dataclasses.dataclass(frozen=True)
class AnalysisOptions:
    """Choices of ``qsolid analyze``; None means the documented default."""

    symprec_angstrom: float | None = None
    wavelength_angstrom: float = xrd.DEFAULT_WAVELENGTH_ANGSTROM
    volume_per_atom_a3: float | None = None
    align: str = "first"
    eos_csv: Path | None = None
    experiment_csv: Path | None = None
    compare: tuple = ()
    min_ratio: float = DEFAULT_MIN_RATIO


OVERLAP_ANGSTROM = 0.01
"""Atoms of a structure file closer than this are overlapping (a broken file, not a tolerance problem)."""


def default_output_directory(path) -> Path:
    """RUN_DIR/analysis/ for a run directory, or <stem>_analysis/ next to a structure or samples file."""
    path = Path(path)
    return path / "analysis" if path.is_dir() else path.with_name(path.stem + "_analysis")


def _check_no_overlap(crystal: Crystal, name: str) -> None:
    distances = distance_matrix(crystal.lattice_bohr, crystal.fractional) * BOHR_ANGSTROM
    i, j = np.unravel_index(np.argmin(distances), distances.shape)
    if distances[i, j] < OVERLAP_ANGSTROM:
        raise ConfigError(f"path: atoms {min(i, j)} and {max(i, j)} of {name!r} overlap "
                          f"({distances[i, j]:.4f} A apart)")


def _check_inputs(options: AnalysisOptions) -> None:
    """Read every auxiliary input once before anything is computed or written."""
    if options.eos_csv:
        eos.read_pv_csv(options.eos_csv)
    if options.experiment_csv:
        eos.read_pv_csv(options.experiment_csv, field="experiment_csv")
    for other in options.compare:
        try:
            read_structure(other)
        except ConfigError as error:
            raise ConfigError(f"compare: {str(error).removeprefix('path: ')}") from None


@contextlib.contextmanager
def _staged(out: Path):
    """A temporary directory beside `out`; on success its files are moved into `out`, else it is removed."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out: {str(out)!r} exists and is not a directory")
    anchor = out.parent
    while not anchor.exists():
        anchor = anchor.parent
    stage = Path(tempfile.mkdtemp(dir=anchor, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        yield stage
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(stage, 0o777 & ~mask)  # mkdtemp's 0700 would make the folder private
        if out.is_dir():
            for item in stage.iterdir():
                os.replace(item, out / item.name)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _cell_summary(crystal: Crystal) -> dict:
    a, b, c, alpha, beta, gamma = (float(v) for v in lattice_module.parameters_from_lattice(crystal.lattice_bohr))
    return {
        "a_bohr": a, "b_bohr": b, "c_bohr": c,
        "a_angstrom": a * BOHR_ANGSTROM, "b_angstrom": b * BOHR_ANGSTROM, "c_angstrom": c * BOHR_ANGSTROM,
        "alpha_deg": alpha, "beta_deg": beta, "gamma_deg": gamma,
        "n_atoms": crystal.n_atoms,
        "volume_per_atom_a3": crystal.volume_per_atom_a3(),
    }


def _sampled_mean_symprec(crystal: Crystal) -> tuple[float, str | None]:
    """Default tolerance for a sampled mean structure, and a note when it had to be lowered.

    When molecules reorient, the mean positions of their two protons merge towards the
    molecular centre; spglib treats atoms closer than symprec as one and finds no group.
    The tolerance is then lowered to half the closest distance.
    """
    closest = float(np.min(distance_matrix(crystal.lattice_bohr, crystal.fractional))) * BOHR_ANGSTROM
    if closest > 2 * DEFAULT_SYMPREC_SAMPLES_ANGSTROM:  # the diagonal is infinite, so one atom lands here
        return DEFAULT_SYMPREC_SAMPLES_ANGSTROM, None
    note = (
        f"mean positions of two atoms are {closest:.4f} A apart (molecules reorient, so the mean of their "
        f"protons merges): symprec lowered from {DEFAULT_SYMPREC_SAMPLES_ANGSTROM} A to half that distance"
    )
    return min(DEFAULT_SYMPREC_SAMPLES_ANGSTROM, 0.5 * closest), note


def _write_spread_table(mean, path) -> None:
    crystal = mean.crystal
    cartesian = crystal.cartesian_bohr * BOHR_ANGSTROM
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["atom", "number", "frac_x", "frac_y", "frac_z", "x_angstrom", "y_angstrom", "z_angstrom",
                         "rms_spread_angstrom", "std_x_angstrom", "std_y_angstrom", "std_z_angstrom"])
        for i in range(crystal.n_atoms):
            writer.writerow([i, crystal.numbers[i], *(f"{v:.6f}" for v in crystal.fractional[i]),
                             *(f"{v:.5f}" for v in cartesian[i]),
                             f"{mean.rms_spread_bohr[i] * BOHR_ANGSTROM:.5f}",
                             *(f"{v * BOHR_ANGSTROM:.5f}" for v in mean.axis_spread_bohr[i])])


def _write_columns(path, header, columns) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in zip(*columns):
            writer.writerow([f"{v:.6g}" for v in row])


def _load_source(path: Path):
    """("run", SampleSet) for samples, ("structure", Crystal) for a structure file or final.cif."""
    if path.is_dir():
        if (path / "samples.npz").is_file():
            return "run", load_samples(path)
        if (path / "final.cif").is_file():
            return "structure", read_structure(path / "final.cif")
        raise ConfigError(f"path: {str(path)!r} has neither samples.npz nor final.cif")
    if path.suffix == ".npz":
        return "run", load_samples(path)
    return "structure", read_structure(path)


def _symmetry_report(symmetry, molecules_conventional) -> dict:
    report = {
        "space_group_number": symmetry.number,
        "space_group_symbol": symmetry.symbol,
        "hall_number": symmetry.hall_number,
        "point_group": symmetry.point_group,
        "point_group_schoenflies": symmetry.schoenflies,
        "symprec_angstrom": symmetry.symprec_angstrom,
        "wyckoff": wyckoff_counts(symmetry.sites),
        "wyckoff_sites": [
            {"wyckoff": site.label, "letter": site.letter, "multiplicity": site.multiplicity,
             "site_symmetry": site.site_symmetry, "atomic_number": site.number,
             "representative_fractional": list(site.representative_fractional)}
            for site in symmetry.sites
        ],
        "transformation_matrix_to_standard": symmetry.transformation_matrix,
        "origin_shift_to_standard": symmetry.origin_shift,
        "conventional_cell": _cell_summary(symmetry.conventional),
        "molecule_centre_wyckoff": {},
        "molecule_centre_sites": [],
    }
    if molecules_conventional.is_molecular:
        sites = centre_sites(symmetry, molecules_conventional.centres_fractional)
        report["molecule_centre_wyckoff"] = wyckoff_counts(sites)
        report["molecule_centre_sites"] = [
            {"wyckoff": site.label, "site_symmetry": site.site_symmetry,
             "representative_fractional": list(site.representative_fractional)} for site in sites
        ]
        centres = Crystal(symmetry.conventional.lattice_bohr, molecules_conventional.centres_fractional,
                          np.ones(len(molecules_conventional.centres_fractional), dtype=int))
        alone = find_symmetry(centres, symmetry.symprec_angstrom)
        report["molecule_centres_alone"] = {
            "space_group_number": alone.number, "space_group_symbol": alone.symbol,
            "wyckoff": wyckoff_counts(alone.sites),
            "note": "symmetry of the centres as a point set, ignoring bond orientations",
        }
    return report


def _modes_report(modes) -> dict:
    report = {row: modes.rows[row] for row in ROWS}
    report.update(modes.label_lists())
    report["point_group_schoenflies"] = modes.table.schoenflies
    report["activity"] = {row: {kind: modes.formatted(counts) for kind, counts in modes.activity(row).items()}
                          for row in ROWS}
    report["formatted"] = {row: modes.formatted(modes.rows[row]) for row in ROWS}
    report["full_displacement_representation"] = modes.total
    report["verification"] = ("characters of fixed molecules and projections onto explicitly built displacement "
                              "patterns agree, and the four rows add up to the full 3N representation")
    report["note"] = ("Gamma point of the standardized primitive cell; raman_active/ir_active/silent list the "
                      "point group's irreps; 'translational' are optical translations of molecular centres "
                      "(of atoms for non-molecular crystals)")
    return report


def _sample_distributions(samples, molecules, out: Path) -> dict:
    """g(r), bond-length and orientation distributions from samples; writes CSV and PNG files."""
    report = {}
    stride = max(1, samples.n_samples // RDF_MAX_SAMPLES)
    lattices = samples.lattice_per_sample()
    rdf = radial_distribution(samples.fractional[::stride], lattices[::stride])
    _write_columns(out / "rdf.csv", ["r_bohr", "r_angstrom", "g"],
                   [rdf.centres_bohr, rdf.centres_bohr * BOHR_ANGSTROM, rdf.g])
    plots.plot_rdf(rdf, out / "rdf.png")
    report["rdf"] = {"n_samples_used": rdf.n_samples, "r_max_bohr": float(rdf.edges_bohr[-1]),
                     "first_peak_bohr": float(rdf.centres_bohr[np.argmax(rdf.g)])}
    if not molecules.is_molecular:
        return report
    bonds = sampled_bond_vectors(samples.fractional, lattices, molecules.pairs)
    lengths = np.linalg.norm(bonds, axis=-1)
    edges, density = probability_density(lengths)
    _write_columns(out / "bond_lengths.csv", ["bond_bohr", "probability_density_per_bohr"],
                   [0.5 * (edges[1:] + edges[:-1]), density])
    plots.plot_bond_lengths(edges, density, out / "bond_length.png")
    report["bond_length"] = {"mean_bohr": float(lengths.mean()), "std_bohr": float(lengths.std()),
                             "mean_angstrom": float(lengths.mean() * BOHR_ANGSTROM),
                             "std_angstrom": float(lengths.std() * BOHR_ANGSTROM)}
    report["orientation"] = _orientation(bonds, lattices, out)
    return report


def _orientation(bonds, lattices, out: Path) -> dict:
    distribution = orientation_distribution(bonds, lattices)
    theta = np.degrees(0.5 * (distribution.theta_edges[1:] + distribution.theta_edges[:-1]))
    phi = np.degrees(0.5 * (distribution.phi_edges[1:] + distribution.phi_edges[:-1]))
    grid_theta, grid_phi = np.meshgrid(theta, phi, indexing="ij")
    _write_columns(out / "orientation.csv", ["theta_deg", "phi_deg", "g_per_sr"],
                   [grid_theta.ravel(), grid_phi.ravel(), distribution.density.ravel()])
    plots.plot_orientation(distribution, out / "orientation.png")
    return {**orientation_summary(bonds, lattices), "integral": distribution.total_probability(),
            "head_tail": "each bond counted half at (theta, phi) and half at (pi - theta, phi + pi)"}


def _xrd(crystal, options: AnalysisOptions, out: Path, debye_waller_b, label: str) -> dict:
    pattern = xrd.powder_pattern(crystal, options.wavelength_angstrom, options.volume_per_atom_a3,
                                 debye_waller_b=debye_waller_b, label=label)
    patterns = [pattern]
    for other in options.compare:
        patterns.append(xrd.powder_pattern(read_structure(other), options.wavelength_angstrom,
                                           options.volume_per_atom_a3, label=Path(other).stem))
    xrd.write_peak_table(pattern, out / "xrd_peaks.csv")
    plots.plot_xrd(patterns, out / "xrd.png")
    strongest = np.argsort(pattern.intensity)[::-1][:5]
    return {
        "wavelength_angstrom": pattern.wavelength_angstrom,
        "volume_per_atom_a3": pattern.volume_per_atom_a3,
        "debye_waller_b_a2": debye_waller_b,
        "structure": "symmetrized conventional cell",
        "compared_with": [str(p) for p in options.compare],
        "strongest_peaks": [
            {"two_theta_deg": float(pattern.two_theta_deg[i]), "d_angstrom": float(pattern.d_angstrom[i]),
             "hkl": pattern.hkl[i], "intensity": float(pattern.intensity[i])} for i in sorted(strongest)
        ],
    }


def _eos(options: AnalysisOptions, out: Path) -> dict:
    points = eos.read_pv_csv(options.eos_csv) if options.eos_csv else None
    experiment = eos.read_pv_csv(options.experiment_csv, "experiment_csv") if options.experiment_csv else None
    fits = []
    if points is not None:
        fits = [eos.fit_eos(points["volume"], points["pressure"], points["pressure_error"], form)
                for form in eos.FORMS]
    plots.plot_eos(out / "eos.png", fits, points, experiment, eos.EXPERIMENT_130GPA)
    report = {"fits": {fit.form: fit.as_dict() for fit in fits}, "experiment_130gpa": eos.EXPERIMENT_130GPA}
    if fits:
        report["fitted_volume_at_130gpa_a3"] = {
            fit.form: float(_volume_at_pressure(fit, eos.EXPERIMENT_130GPA["pressure_gpa"])) for fit in fits}
    return report


def _volume_at_pressure(fit, pressure: float) -> float:
    """Invert P(V) = pressure by bisection between 0.05 V0 and V0 (P decreases with V)."""
    low, high = 0.05 * fit.parameters[0], fit.parameters[0]
    for _ in range(200):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if fit.pressure(middle) > pressure else (low, middle)
    return 0.5 * (low + high)


def analyze(path, out=None, options: AnalysisOptions = AnalysisOptions()) -> dict:
    """Run the whole analysis of a run directory or structure file; returns what analysis.json holds."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"path: {str(path)!r} does not exist")
    out = Path(out) if out is not None else default_output_directory(path)
    kind, source = _load_source(path)
    if kind == "structure":
        _check_no_overlap(source, path.name)
    _check_inputs(options)
    with _staged(out) as stage:
        report = _analyze(path, kind, source, stage, options)
        report["files"] = sorted(p.name for p in stage.iterdir() if p.suffix in (".csv", ".png", ".cif"))
        report = _jsonable(report)
        (stage / "analysis.json").write_text(json.dumps(report, indent=2) + "\n")
        (stage / "summary.md").write_text(summary_markdown(report))
    return report


def _analyze(path: Path, kind: str, source, out: Path, options: AnalysisOptions) -> dict:
    report = {"source": {"path": str(path), "kind": kind}}
    samples = source if kind == "run" else None
    if samples is not None:
        mean = mean_structure(samples, options.align)
        crystal = mean.crystal
        crystal.write_cif(out / "mean_structure.cif")
        _write_spread_table(mean, out / "mean_structure_spread.csv")
        report["source"].update({
            "n_samples": samples.n_samples, "align": options.align,
            "lattice": "mean of per-sample lattices (constant pressure)" if samples.constant_pressure else "fixed",
            "rms_spread_angstrom_mean": float(mean.rms_spread_bohr.mean() * BOHR_ANGSTROM),
        })
        symprec = options.symprec_angstrom
        if symprec is None:
            symprec, note = _sampled_mean_symprec(crystal)
            if note:
                report["source"]["symprec_note"] = note
    else:
        crystal = source
        symprec = options.symprec_angstrom or DEFAULT_SYMPREC_FILE_ANGSTROM
    report["cell"] = _cell_summary(crystal)
    symmetry = find_symmetry(crystal, symprec)
    symmetry.conventional.write_cif(out / "symmetrized_conventional.cif")
    molecules_conventional = pair_molecules(symmetry.conventional, options.min_ratio)
    report.update(_symmetry_report(symmetry, molecules_conventional))
    report["symmetry_scan"] = symmetry_scan(crystal)
    report["molecules"] = molecules_conventional.report
    modes = gamma_modes(symmetry, options.min_ratio)
    report["modes"] = _modes_report(modes)

    debye_waller = None
    if samples is not None:
        rms = mean_structure(samples, "com").rms_spread_bohr * BOHR_ANGSTROM
        debye_waller = xrd.debye_waller_b_a2(float(np.sqrt(np.mean(rms**2))))
    report["xrd"] = _xrd(symmetry.conventional, options, out, debye_waller, label=f"{symmetry.symbol} ({path.name})")

    if samples is not None:
        report.update(_sample_distributions(samples, pair_molecules(crystal, options.min_ratio), out))
    elif molecules_conventional.is_molecular:
        report["orientation"] = _orientation(molecules_conventional.bond_vectors_bohr[None],
                                             symmetry.conventional.lattice_bohr, out)
    if options.eos_csv or options.experiment_csv:
        report["eos"] = _eos(options, out)
    return report


def summary_markdown(report: dict) -> str:
    """A short human-readable account of analysis.json."""
    modes = report["modes"]
    molecules = report["molecules"]
    lines = [
        f"# Structure analysis of `{report['source']['path']}`",
        "",
        f"- space group **{report['space_group_symbol']}** (No. {report['space_group_number']}), point group "
        f"{report['point_group_schoenflies']}, symprec {report['symprec_angstrom']} Å",
        *([f"- note: {report['source']['symprec_note']}"] if "symprec_note" in report["source"] else []),
        f"- Wyckoff sites: {report['wyckoff']}; molecular centres: {report['molecule_centre_wyckoff'] or 'n/a'}",
        f"- volume {report['cell']['volume_per_atom_a3']:.4f} Å³/atom ({report['cell']['n_atoms']} atoms)",
        f"- molecules: {molecules['n_molecules']}, nearest-neighbour distance "
        f"{molecules['bond_length_min_angstrom']:.4f}–{molecules['bond_length_max_angstrom']:.4f} Å, "
        f"next neighbour / nearest ≥ {molecules['next_neighbour_ratio_min']:.3f}",
        "",
        "## Γ-point modes",
        "",
        "| modes | representation | Raman | IR | silent |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in ROWS:
        activity = modes["activity"][row]
        lines.append(f"| {row} | {modes['formatted'][row]} | {activity['raman']} | {activity['infrared']} | "
                     f"{activity['silent']} |")
    lines += ["", "## Symmetry versus tolerance", "",
              ", ".join(f"{s['symprec_angstrom']} Å: {s['space_group_symbol']}" for s in report["symmetry_scan"]),
              "", "## X-ray diffraction", "",
              f"λ = {report['xrd']['wavelength_angstrom']} Å at {report['xrd']['volume_per_atom_a3']:.4f} Å³/atom; "
              "strongest peaks (2θ, hkl, I):", ""]
    lines += [f"- {p['two_theta_deg']:.3f}° {p['hkl']} {p['intensity']:.1f}" for p in report["xrd"]["strongest_peaks"]]
    if "eos" in report:
        lines += ["", "## Equation of state", ""]
        for form, fit in report["eos"]["fits"].items():
            lines.append(f"- {form}: V0 = {fit['v0_a3_per_atom']:.3f}({fit['v0_a3_per_atom_error']:.3f}) Å³/atom, "
                         f"K0 = {fit['k0_gpa']:.3f}({fit['k0_gpa_error']:.3f}) GPa, "
                         f"K0' = {fit['k0_prime']:.3f}({fit['k0_prime_error']:.3f})")
    lines += ["", "Files: " + ", ".join(report["files"]), ""]
    return "\n".join(lines)
