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

from typing import Callable

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


def train_then_evaluate(training_steps: int, total_steps: int, done: int, *loop) -> bool:
    """`run_phases` for an engine whose run is training steps 0 .. training_steps-1 followed by
    evaluation steps up to total_steps (NCT, dvfe); `loop` are run_phases's arguments after `done`."""
    phases = [("training", 0, training_steps), ("evaluation", training_steps, total_steps)]
    return run_phases(phases, done, *loop)
