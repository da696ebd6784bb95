"""SIGKILL at random moments, resume, and compare with the uninterrupted run; prints JSON.

    python benchmarks/kill_resume.py [CONFIG.toml] [--kills 10] [--window 0.2] [--seed 0] [--out DIR]

1. `qsolid run CONFIG --out DIR/reference` runs uninterrupted; its wall time is W.
2. `qsolid run CONFIG --out DIR/killed` is killed with SIGKILL after a random time drawn uniformly
   from [0.02 W, window x W] (a fresh draw for every process; a resumed process, which loads its
   compiled programs from the cache, needs much less than W: with the default run and window 0.5
   the first resumed process finished before its kill), then `qsolid run --resume DIR/killed` is
   started and killed the same way, `--kills` times in all; the last process runs to the end. A
   kill before the run directory holds its config (the first second or so) leaves nothing to
   resume from: that directory is removed and the run started again (counted as a kill).
3. Both summary.json files are compared key by key, timings (`seconds_per_step`) excepted.

Without CONFIG, a small run with every stage that writes a checkpoint: 2-atom bcc with quantum
protons, Hartree-Fock pretraining, burn-in, 3000 KFAC steps with a checkpoint every 20, evaluation.
Training is most of the wall time, so most kills land in it, after each process's start-up.
The kills land anywhere: imports, Hartree-Fock, pretraining, burn-in, training, evaluation, the
final writes. Printed: the kill times, the step of the newest checkpoint after each kill, whether
the final summaries are identical, and the keys that differ.
"""

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_CONFIG = """\
seed = 3
precision = "float64"
[system]
structure = "bcc"
twists = "gamma"
rs = 1.31
nuclei = "quantum"
[network]
one_electron_width = 16
two_electron_width = 8
layers = 2
determinants = 1
nuclear_width = 8
[sampling]
batch_size = 32
burn_in_sweeps = 20
sweeps_per_step = 4
[optimisation]
steps = 3000
[pretrain]
steps = 20
[evaluation]
steps = 32
sweeps_per_step = 4
[output]
checkpoint_every = 20
"""
TIMING_KEYS = ("seconds_per_step",)


def qsolid(*args) -> list[str]:
    return [sys.executable, "-m", "qsolid.cli", *args]


def newest_step(run_dir: Path):
    steps = [int(p.stem.split("_")[-1]) for p in (run_dir / "checkpoints").glob("step_*.npz")]
    return max(steps) if steps else None


def run_with_kills(config: Path, run_dir: Path, kills: int, wall: float, window: float, rng: random.Random) -> list[dict]:
    record = []
    while len(record) < kills:
        resuming = (run_dir / "config.toml").exists()
        if not resuming and run_dir.exists():
            shutil.rmtree(run_dir)  # killed before anything worth resuming was written
        args = ["run", "--resume", str(run_dir)] if resuming else ["run", str(config), "--out", str(run_dir)]
        process = subprocess.Popen(qsolid(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        delay = rng.uniform(0.02 * wall, window * wall)
        try:
            process.wait(timeout=delay)
            record.append({"after_s": round(delay, 1), "finished_before_the_kill": True})
            return record
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        record.append({"after_s": round(delay, 1), "resumed": resuming, "newest_checkpoint_step": newest_step(run_dir)})
    final = subprocess.run(qsolid("run", "--resume", str(run_dir)), capture_output=True, text=True)
    if final.returncode:
        raise SystemExit(f"the final resume failed ({final.returncode}): {final.stderr.strip()[-500:]}")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", type=Path)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--window", type=float, default=0.2, help="latest kill, as a fraction of the reference wall time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("kill_resume"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=False)
    config = args.config or args.out / "config.toml"
    if args.config is None:
        config.write_text(DEFAULT_CONFIG)
    start = time.perf_counter()
    subprocess.run(qsolid("run", str(config), "--out", str(args.out / "reference")), check=True, capture_output=True)
    wall = time.perf_counter() - start
    kills = run_with_kills(config, args.out / "killed", args.kills, wall, args.window, random.Random(args.seed))
    reference = json.loads((args.out / "reference" / "summary.json").read_text())
    resumed = json.loads((args.out / "killed" / "summary.json").read_text())
    differing = sorted(k for k in reference.keys() | resumed.keys() if k not in TIMING_KEYS and reference.get(k) != resumed.get(k))
    print(json.dumps({
        "reference_wall_s": round(wall, 1),
        "kills": kills,
        "kills_done": sum(1 for k in kills if not k.get("finished_before_the_kill")),
        "identical": not differing,
        "differing_keys": differing,
        "energy_per_atom_ha": [reference.get("energy_per_atom_ha"), resumed.get("energy_per_atom_ha")],
    }, indent=1))


if __name__ == "__main__":
    main()
