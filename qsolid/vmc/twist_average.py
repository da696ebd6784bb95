"""Twist averaging by separate runs (system.twist_mode = "separate"): one sub-run per twist, averaged.

For a twist set {t, w_t} (qsolid.twists) every twist gets its own run, in
RUN_DIR/twist-NN/ with its own config.toml (system.twists = [[t]], seed + NN so
that the runs are statistically independent), trained, evaluated and resumable
like any run. The averages are

    X_TA = sum_t w_t X_t,   sigma_TA = (sum_t w_t^2 sigma_t^2)^(1/2)

for the energy (per cell, per atom or per electron), its kinetic and potential
parts and the virial pressure. RUN_DIR/evaluation.json and summary.json carry
the averages, `boundary_condition`, `twists` and `per_twist` (each twist's own
numbers). The default, system.twist_mode = "shared", trains one network for the
whole set in one run instead (qsolid.vmc.groups), at about the cost of one run;
constant pressure needs that one run (the annealer must see the averaged G), so
it is refused here.
"""

import dataclasses
import json
from pathlib import Path

import numpy as np
import tomli_w

from qsolid import rundir
from qsolid.schema import ConfigError, to_dict
from qsolid.system import build_system

AVERAGED = (
    "finite_size_potential_sk",
    "energy",
    "energy_per_atom",
    "energy_per_electron",
    "kinetic",
    "potential",
)


def single_twist_configs(config) -> tuple[object, list[tuple[np.ndarray, float, object]]]:
    """(system, [(twist, weight, config of its sub-run), ...]) for a config whose twist set has several twists."""
    system = build_system(config.system, config.npt.lattice_mode)
    if config.npt.lattice_mode != "fixed":
        raise ConfigError(
            f"npt.lattice_mode: twist_mode 'separate' runs one fixed-cell run per twist; constant pressure over "
            f"{system.boundary_condition} needs system.twist_mode = 'shared'"
        )
    runs = []
    for index, (twist, weight) in enumerate(zip(system.twists, system.twist_weights)):
        single = dataclasses.replace(config.system, twists=(tuple(float(x) for x in twist),))
        runs.append((twist, float(weight), dataclasses.replace(config, seed=config.seed + index, system=single)))
    return system, runs


def _weighted(values, errors, weights) -> tuple[float, float]:
    weights = np.asarray(weights)
    return float(weights @ np.asarray(values)), float(np.sqrt(weights**2 @ np.asarray(errors) ** 2))


def average(system, results: list[dict], weights) -> dict:
    """Weighted averages of the per-twist evaluation results (module docstring)."""
    out = {
        "n_atoms": system.n_nuclei,
        "n_electrons": system.n_electrons,
        "boundary_condition": system.boundary_condition,
        "twists": [{"twist": [float(x) for x in t], "weight": float(w)} for t, w in zip(system.twists, weights)],
    }
    for name in AVERAGED:
        if all(f"{name}_ha" in r for r in results):
            out[f"{name}_ha"], out[f"{name}_error_ha"] = _weighted(
                [r[f"{name}_ha"] for r in results], [r[f"{name}_error_ha"] for r in results], weights
            )
    if all("virial_pressure_gpa" in r for r in results):
        out["virial_pressure_gpa"], out["virial_pressure_error_gpa"] = _weighted(
            [r["virial_pressure_gpa"] for r in results], [r["virial_pressure_error_gpa"] for r in results], weights
        )
    keep = ("energy_ha", "energy_error_ha", "energy_per_atom_ha", "energy_per_atom_error_ha",
            "energy_per_electron_ha", "energy_per_electron_error_ha", "virial_pressure_gpa", "virial_pressure_error_gpa")
    out["per_twist"] = [
        {"twist": [float(x) for x in t], "weight": float(w), **{k: r[k] for k in keep if k in r}}
        for t, w, r in zip(system.twists, weights, results)
    ]
    return out


def run_to_completion(config, run_dir: Path, logger, run_one):
    """Every sub-run to completion (resuming whatever RUN_DIR holds), then the averages; None if stopped.

    run_one(config, sub_dir, logger) -> summary or None runs one single-twist run (qsolid.vmc.command).
    """
    system, runs = single_twist_configs(config)
    results = []
    for index, (twist, weight, sub_config) in enumerate(runs):
        sub_dir = run_dir / f"twist-{index:02d}"
        if (sub_dir / "summary.json").exists():
            results.append(rundir.read_json(sub_dir / "evaluation.json"))
            continue
        sub_dir.mkdir(parents=True, exist_ok=True)
        if not (sub_dir / "config.toml").exists():
            rundir.atomic_write_text(sub_dir / "config.toml", tomli_w.dumps(to_dict(sub_config)))
        logger.info("twist %d of %d: %s (weight %.6g) in %s", index + 1, len(runs), [float(x) for x in twist], weight, sub_dir)
        if run_one(sub_config, sub_dir, logger) is None:
            return None
        results.append(rundir.read_json(sub_dir / "evaluation.json"))
    averaged = average(system, results, system.twist_weights)
    rundir.atomic_write_json(run_dir / "evaluation.json", averaged)
    rundir.atomic_write_json(run_dir / "summary.json", averaged)
    logger.info("twist average: %s", json.dumps({k: v for k, v in averaged.items() if k != "per_twist"}))
    return averaged
