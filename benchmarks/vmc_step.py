"""Speed and memory of one VMC optimisation step; prints JSON.

For each case (2-atom and 16-atom bcc hydrogen with clamped protons, forward and
Hessian Laplacians; 8-atom Pa-3 H2 crystal and 16-atom bcc hydrogen with
quantum protons, Gibbs block (also with resampling after each update) and
joint samplers; batch 256, the default
network) a fresh process builds the problem,
times the first step (compilation included) and then the median of the next
`--steps` steps (sampling + local energy + KFAC update), and reports its peak
memory: device `peak_bytes_in_use` where the backend tracks it (GPU), else
the process's maximum resident set size (CPU).

    python benchmarks/vmc_step.py [--steps 10] [--cases bcc2-forward,bcc16-forward,...]
"""

import argparse
import json
import subprocess
import sys

GAMMA = {"system.twists": "gamma"}  # the boundary condition of the timings in docs/
CASES = {
    "bcc2-forward": {"system.supercell": [1, 1, 1], "hamiltonian.laplacian": "forward"},
    "bcc2-hessian": {"system.supercell": [1, 1, 1], "hamiltonian.laplacian": "hessian"},
    "bcc16-forward": {"system.supercell": [2, 2, 2], "system.rs": 1.31, "hamiltonian.laplacian": "forward"},
    "bcc16-hessian": {"system.supercell": [2, 2, 2], "system.rs": 1.31, "hamiltonian.laplacian": "hessian"},
    "pa3-8-quantum-gibbs": {"system.structure": "pa3", "system.rs": 1.5, "system.nuclei": "quantum"},
    "pa3-8-quantum-gibbs-resample": {
        "system.structure": "pa3", "system.rs": 1.5, "system.nuclei": "quantum", "sampling.resample_after_update": True,
    },
    "bcc16-quantum-gibbs": {"system.supercell": [2, 2, 2], "system.rs": 1.31, "system.nuclei": "quantum"},
    "bcc16-quantum-joint": {
        "system.supercell": [2, 2, 2], "system.rs": 1.31, "system.nuclei": "quantum", "sampling.sampler": "joint",
    },
}


def measure(overrides: dict, steps: int) -> dict:
    import resource
    import time

    import jax
    import numpy as np

    from qsolid.vmc import runstate, train
    from qsolid.vmc.config import load_config
    from qsolid.rundir import setup_logging
    from qsolid.vmc.problem import build_problem

    config = load_config(overrides={**overrides, "sampling.batch_size": 256, "pretrain.steps": 0})
    problem = build_problem(config)
    state = runstate.initial_state(problem)
    state.opt_state = runstate.init_optimiser(problem, state)
    import tempfile

    logger = setup_logging(tempfile.mkdtemp())
    start = time.perf_counter()
    train.optimisation_step(problem, state, logger)
    jax.block_until_ready(state.params)
    first = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        train.optimisation_step(problem, state, logger)
        jax.block_until_ready(state.params)
        times.append(time.perf_counter() - start)
    device = jax.devices()[0]
    stats = device.memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return {
        "n_atoms": problem.system.n_nuclei,
        "batch_size": config.sampling.batch_size,
        "devices": f"{len(jax.devices())} x {device.platform}",
        "compile_and_first_step_seconds": first,
        "seconds_per_step_median": float(np.median(times)),
        "steps_timed": steps,
        "peak_memory_gib": (peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**30,
        "peak_memory_source": "device peak_bytes_in_use" if peak is not None else "process max RSS",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--single", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(measure({**GAMMA, **CASES[args.single]}, args.steps)))
        return
    results = {}
    for name in args.cases.split(","):
        output = subprocess.run(
            [sys.executable, __file__, "--single", name, "--steps", str(args.steps)],
            check=True, capture_output=True, text=True,
        ).stdout
        results[name] = json.loads(output.strip().splitlines()[-1])
    for size in ("bcc2", "bcc16"):
        if f"{size}-forward" in results and f"{size}-hessian" in results:
            results[f"{size}-hessian_over_forward"] = (
                results[f"{size}-hessian"]["seconds_per_step_median"] / results[f"{size}-forward"]["seconds_per_step_median"]
            )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
