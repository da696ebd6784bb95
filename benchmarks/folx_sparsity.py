"""XLA's FLOP count of the batch's local energies against folx's sparsity threshold; prints JSON.

    python benchmarks/folx_sparsity.py [--cases bcc2-clamped ...] [--thresholds 0 3 6 12 24 48]

The cases are those of benchmarks/performance.py (their networks, batches and
systems). A count is deterministic, so it can be quoted from a shared machine;
the local energy has no loops, so XLA's count is complete (LAPACK calls aside).
With hamiltonian.walker_chunk set the chunks are a loop: leave it at 0 here.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import performance  # noqa: E402


def local_energy_flops(case: str, threshold: int) -> float:
    from qsolid.vmc import runstate
    from qsolid.profiling import compiled_flops
    from qsolid.vmc.problem import build_problem

    problem = build_problem(performance._config(case, 1, {"hamiltonian.sparsity_threshold": threshold}))
    state = runstate.initial_state(problem)
    return compiled_flops(problem.measure, state.params, state.walkers, state.lattice)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=["bcc2-clamped", "bcc16-clamped"], choices=list(performance.CASES))
    parser.add_argument("--thresholds", nargs="+", type=int, default=[0, 3, 6, 12, 24, 48])
    args = parser.parse_args()
    results = []
    for case in args.cases:
        flops = {threshold: local_energy_flops(case, threshold) for threshold in args.thresholds}
        results.append({
            "case": case,
            "local_energy_flops": {str(t): f for t, f in flops.items()},
            "relative_to_first_threshold": {str(t): f / flops[args.thresholds[0]] for t, f in flops.items()},
        })
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
