"""The run loop every engine shares: steps until done, statistics, checkpoints, signals, progress.

An engine hands `run_steps` a step function (`step(index) -> statistics row`, which advances the
engine's own state) and a `save(steps_done)` that writes its checkpoint. The loop appends each row
to the statistics file, reports it to the progress, saves every `checkpoint_every` steps and when
SIGINT/SIGTERM arrives — then it returns False and the run can be resumed from that
checkpoint with nothing lost. In a multi-process run the processes agree after every step
whether any of them received a signal (qsolid.distributed.any_process), so all stop after the
same step and write one checkpoint. Precision and the device mesh are set by the engine when it builds
its problem, before the loop starts.
"""

import logging
from typing import Callable, Protocol

from qsolid.distributed import any_process
from qsolid.progress import Progress
from qsolid.rundir import StatsFile, StopRequest


def run_steps(
    step: Callable[[int], dict],
    start: int,
    end: int,
    save: Callable[[int], None],
    checkpoint_every: int,
    progress: Progress,
    stats: StatsFile | None = None,
    offset: int = 0,
) -> bool:
    """Steps start .. end-1; True if all were taken (the caller saves the end state), False if a
    signal stopped the loop (after saving).

    `offset` is subtracted from the step count reported to the progress (a stage's first step).
    """
    with StopRequest() as stop:
        for index in range(start, end):
            row = step(index)
            if stats is not None:
                stats.append([row])
            progress.advance(index + 1 - offset, row)
            stopping = any_process(stop.requested)  # read once: a signal between two reads would skip the save
            if (index + 1) % checkpoint_every == 0 or stopping:
                save(index + 1)
            if stopping:
                return False
    return True


def run_phases(
    phases: list[tuple[str, int, int]],
    done: int,
    step: Callable[[int], dict],
    save: Callable[[int], None],
    checkpoint_every: int,
    progress: Progress,
    stats: StatsFile | None = None,
) -> bool:
    """Consecutive named phases (name, first step, end) from step `done` on, each announced to the
    progress with its own length; saves at the end. False if a signal stopped it (after saving)."""
    for name, first, end in phases:
        if done >= end:
            continue
        progress.stage(name, end - first, done - first)
        if not run_steps(step, done, end, save, checkpoint_every, progress, stats, offset=first):
            return False
        done = end
    save(done)
    return True


class TrainedRun(Protocol):
    """An engine's run that trains, then evaluates (NCT, dvfe): what `train_then_evaluate` needs of it."""

    config: object
    """.optimisation.steps (training steps) and .output.checkpoint_every"""
    total_steps: int
    step: int
    """steps done so far"""
    stats: StatsFile
    logger: logging.Logger

    def take_step(self, index: int) -> dict:
        """Training or evaluation step `index`; its statistics row."""

    def checkpoint(self) -> None:
        """Write the checkpoint of the steps done."""


def train_then_evaluate(run: TrainedRun, progress: Progress, warmup: int = 0) -> bool:
    """`run_phases` over `warmup` warm-up steps, training steps up to warmup + training, then
    evaluation steps up to run.total_steps, from the steps the run has done; False (logged) if a
    signal stopped it, after checkpointing."""
    training = warmup + run.config.optimisation.steps
    phases = [("warm-up", 0, warmup)] if warmup else []
    phases += [("training", warmup, training), ("evaluation", training, run.total_steps)]
    finished = run_phases(
        phases, run.step, run.take_step, lambda _: run.checkpoint(), run.config.output.checkpoint_every, progress, run.stats
    )
    if not finished:
        run.logger.info("stopped by signal at step %d", run.step)
    return finished
