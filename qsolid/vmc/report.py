"""RUN_DIR/report.md: what a finished VMC run found, in words, with how every number was obtained."""

from pathlib import Path

from qsolid import rundir


def _value(summary: dict, key: str, unit: str, digits: int = 6) -> str:
    error = summary.get(key.replace("_ha", "_error_ha").replace("_gpa", "_error_gpa"))
    text = f"{summary[key]:.{digits}f}"
    return f"{text} ± {error:.{digits}f} {unit}" if error is not None else f"{text} {unit}"


_ROWS_IF_PRESENT = (
    ("energy_per_atom_corrected_ha", "energy per atom + two-body finite-size correction", "Ha", 6),
    ("energy_per_atom_corrected_sk_ha", "energy per atom + two-body correction from S(k)", "Ha", 6),
    ("virial_pressure_gpa", "virial pressure (raw)", "GPa", 1),
    ("virial_pressure_corrected_gpa", "virial pressure + two-body finite-size correction", "GPa", 1),
    ("virial_pressure_corrected_sk_gpa", "virial pressure + two-body correction from S(k)", "GPa", 1),
)
"""(summary key, what it is, unit, decimals) of the table rows a run may or may not have."""


def markdown(summary: dict, config) -> str:
    """The report's text (see write_report)."""
    system = config.system
    per = "electron" if "energy_per_electron_ha" in summary else "atom"
    lines = [
        "# qsolid run report",
        "",
        f"- System: {system.structure}" + (f", r_s = {system.rs:g}" if system.rs else "")
        + f", supercell {list(system.supercell)}, {summary.get('n_atoms', 0)} nuclei ({system.nuclei}),"
        + f" {summary.get('n_electrons', summary.get('n_atoms'))} electrons.",
        f"- Boundary condition: {summary.get('boundary_condition', 'gamma')}"
        + (f" ({len(summary['twists'])} twists)." if len(summary.get("twists", [])) > 1 else "."),
        f"- Wavefunction: {config.network.ansatz}; {summary.get('steps', 0)} optimisation steps,"
        f" {config.evaluation.steps} evaluation steps of {config.sampling.batch_size} walkers; precision {config.precision}.",
        "",
        "| quantity | value |",
        "| --- | --- |",
        f"| energy per {per} (raw, this boundary condition) | {_value(summary, f'energy_per_{per}_ha', 'Ha')} |",
    ]
    lines += [f"| {label} | {_value(summary, key, unit, digits)} |" for key, label, unit, digits in _ROWS_IF_PRESENT if key in summary]
    if "variance_ha2" in summary:
        lines.append(f"| variance of the local energy (per cell) | {summary['variance_ha2']:.4f} Ha² |")
    if "enthalpy_per_atom_ha" in summary:
        lines += [
            f"| enthalpy per atom at {summary['pressure_gpa']:g} GPa | {_value(summary, 'enthalpy_per_atom_ha', 'Ha')} |",
            f"| volume per atom | {summary['volume_per_atom_a3']:.4f} Å³ ({summary['volume_per_atom_bohr3']:.4f} bohr³) |",
            f"| volume change over the last lattice stage | {summary['last_lattice_stage_volume_change_percent']:+.2f} %"
            f" ({'converged' if summary['cell_converged'] else 'still moving: run more cycles'}) |",
        ]
    if "hartree_fock_energy_per_atom_ha" in summary:
        lines.append(f"| Hartree–Fock energy per atom (starting cell, nuclei at their start positions) | {summary['hartree_fock_energy_per_atom_ha']:.6f} Ha |")
    lines += [""]
    if summary.get("per_twist"):
        how = ("one network trained over all twists (system.twist_mode = 'shared')" if config.system.twist_mode == "shared"
               else "one independent run per twist (`twist-NN/`)")
        lines += [f"Twist average E = sum_t w_t E_t over {len(summary['per_twist'])} twists, {how}:", "",
                  f"| twist | weight | energy per {per} |", "| --- | --- | --- |"]
        lines += [f"| {entry['twist']} | {entry['weight']:.4g} | {_value(entry, f'energy_per_{per}_ha', 'Ha')} |"
                  for entry in summary["per_twist"]]
        lines += [""]
    if summary.get("per_configuration"):
        lines += [f"Ensemble of {summary['n_configurations']} clamped configurations (`{summary['configurations_file']}`),"
                  " one network, equal weights; the energy above is their mean:", "",
                  f"| configuration | energy per {per} | variance (per cell) |", "| --- | --- | --- |"]
        lines += [f"| {entry['configuration']} | {_value(entry, f'energy_per_{per}_ha', 'Ha')} | {entry['variance_ha2']:.4f} Ha² |"
                  for entry in summary["per_configuration"]]
        lines += [""]
    if "finite_size_correction" in summary:
        lines += [f"Finite-size correction: {summary['finite_size_correction']}"
                  + (f"; from S(k): {summary['finite_size_correction_sk']}" if "finite_size_correction_sk" in summary else "")
                  + "; raw and corrected values are reported side by side, never mixed.", ""]
    if "final_shortest_distance_angstrom" in summary:
        lines += [f"Structures: `final.cif` is a sampled configuration (shortest distance"
                  f" {summary['final_shortest_distance_angstrom']:.3f} Å); `mean_positions.cif` holds the mean positions.", ""]
    lines += ["Next: `qsolid analyze RUN_DIR` (symmetry, XRD, g(r), Raman/IR), `qsolid evaluate RUN_DIR --steps N`"
              " (smaller error bars), `qsolid plot RUN_DIR`.", ""]
    return "\n".join(lines)


def write_report(run_dir: Path, summary: dict, config) -> Path:
    path = Path(run_dir) / "report.md"
    rundir.atomic_write_text(path, markdown(summary, config))
    return path
