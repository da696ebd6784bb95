"""Per-configuration runs of the same total budget as an ensemble run, and the comparison (docs/validation_ensemble.md).

    python examples/bcc16_ensemble_per_configuration.py runs/ensemble16 runs/per_configuration

For every configuration c of the ensemble run's set, one run of that configuration alone
(a one-configuration set, which computes exactly the plain run of that structure) with the
ensemble's config except sampling.batch_size = (ensemble batch) / N_c: the same optimisation
and evaluation steps, hence the same number of samples of every configuration and the same total
budget. Finished runs are kept, interrupted ones resumed. Prints one JSON object: both energies
of every configuration (Ha/atom), their differences, and the mean absolute difference in
mHa/atom with the standard error of the differences' noise.
"""

import argparse
import json
from pathlib import Path

import numpy as np

import qsolid
from qsolid import rundir
from qsolid.vmc import configurations
from qsolid.vmc.config import load_config


def per_configuration_runs(ensemble_dir: Path, root: Path, part: int = 0, parts: int = 1) -> list[dict]:
    """Run (or resume, or read) the per-configuration runs c with c % parts == part; their summaries in order."""
    ensemble = load_config(ensemble_dir / "config.toml")
    lattices, fractional, _ = configurations.read_frames(ensemble.system.configurations)
    batch = ensemble.sampling.batch_size // len(fractional)
    summaries = []
    for index, frame in enumerate(fractional):
        if index % parts != part:
            continue
        run_dir = root / f"configuration-{index:02d}"
        if (run_dir / "summary.json").exists():
            summaries.append(rundir.read_json(run_dir / "summary.json"))
            continue
        path = configurations.write_extxyz(root / f"configuration-{index:02d}.xyz", lattices[index], frame[None])
        config = load_config(ensemble_dir / "config.toml", {"system.configurations": str(path), "sampling.batch_size": batch})
        summaries.append(qsolid.run(config, run_dir, resume=(run_dir / "config.toml").exists()))
    return summaries


def compare(ensemble: dict, separate: list[dict]) -> dict:
    """Per-configuration energies of both, their differences and the mean absolute difference (mHa/atom)."""
    mixed = np.array([e["energy_per_atom_ha"] for e in ensemble["per_configuration"]])
    mixed_error = np.array([e["energy_per_atom_error_ha"] for e in ensemble["per_configuration"]])
    alone = np.array([s["energy_per_atom_ha"] for s in separate])
    alone_error = np.array([s["energy_per_atom_error_ha"] for s in separate])
    difference = 1e3 * (mixed - alone)
    noise = 1e3 * np.sqrt(mixed_error**2 + alone_error**2)
    return {
        "ensemble_energy_per_atom_ha": mixed.tolist(),
        "ensemble_energy_per_atom_error_ha": mixed_error.tolist(),
        "separate_energy_per_atom_ha": alone.tolist(),
        "separate_energy_per_atom_error_ha": alone_error.tolist(),
        "difference_mha_per_atom": difference.tolist(),
        "mean_difference_mha_per_atom": float(np.mean(difference)),
        "mean_difference_error_mha_per_atom": float(np.sqrt(np.sum(noise**2)) / len(noise)),
        "mean_absolute_difference_mha_per_atom": float(np.mean(np.abs(difference))),
        "rms_noise_of_one_difference_mha_per_atom": float(np.sqrt(np.mean(noise**2))),
        "ensemble_mean_energy_per_atom_ha": ensemble["energy_per_atom_ha"],
        "separate_mean_energy_per_atom_ha": float(np.mean(alone)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ensemble_run", type=Path, help="a finished run with system.configurations")
    parser.add_argument("root", type=Path, help="directory of the per-configuration runs")
    parser.add_argument("--part", default="0/1", help="K/N: only the configurations c with c %% N == K (N processes in parallel)")
    args = parser.parse_args()
    part, parts = (int(x) for x in args.part.split("/"))
    args.root.mkdir(parents=True, exist_ok=True)
    separate = per_configuration_runs(args.ensemble_run, args.root, part, parts)
    if parts > 1 or not (args.ensemble_run / "summary.json").exists():  # a part, or the ensemble run is still going
        print(json.dumps([{k: s[k] for k in ("energy_per_atom_ha", "energy_per_atom_error_ha")} for s in separate], indent=1))
        return
    print(json.dumps(compare(rundir.read_json(args.ensemble_run / "summary.json"), separate), indent=1))


if __name__ == "__main__":
    main()
