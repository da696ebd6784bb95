"""Walker groups: one wavefunction trained over several boundary conditions (or configurations) at once.

Each walker carries an integer group index t: today the twist of a twist set
(the wavefunction takes it as an input, qsolid.vmc.ansatz.electrons), later a
clamped proton configuration of an ensemble (issues 18/19). Group t has the
weight w_t (sum_t w_t = 1); the batch of B walkers is split into G equal
contiguous blocks, walker i in group i // (B / G). No step changes this layout:
Metropolis moves walkers in place and resampling stays inside each block
(qsolid.vmc.sampling.resample_after_update).

What a run reports is the weighted average of the group means,

    E = sum_t w_t E_t,   E_t = mean of E_L over the walkers of group t,

and the energy gradient is the weighted sum of the per-group gradients

    grad E = 2 sum_t w_t E_t[ (E_L - E_t) grad ln Psi* ]

with every walker centred on its own group's mean (a common baseline E would
add terms (E_t - E) E_t[grad ln Psi*] that vanish in expectation but not in a
sample). On the walkers, sum_t w_t mean_{i in t} f_i = mean_i c_i f_i with the
walker weight c_i = w_t B / B_t (B_t walkers in group t; c_i = G w_t for equal
blocks, 1 for a single group).

A single group takes the plain batch means, so a one-group run computes
exactly what it did before groups existed.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from qsolid.schema import ConfigError
from qsolid.stats import clip_outliers


@dataclasses.dataclass(frozen=True)
class Groups:
    """G groups with their weights (summing to 1)."""

    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.weights)

    def assign(self, batch_size: int) -> np.ndarray:
        """(batch,) int32 group indices in G equal contiguous blocks."""
        return np.repeat(np.arange(len(self), dtype=np.int32), batch_size // len(self))

    def check_batch(self, batch_size: int, devices: int, what: str) -> None:
        """ConfigError naming sampling.batch_size unless it splits into equal blocks per group and device."""
        if batch_size % (len(self) * devices):
            raise ConfigError(
                f"sampling.batch_size: {batch_size} walkers cannot be split equally over {len(self)} {what} "
                f"x {devices} device(s); use a multiple of {len(self) * devices}"
            )

    def _masked(self, values, group):
        """(G, batch): each row the values of one group, NaN elsewhere."""
        member = group[None, :] == jnp.arange(len(self), dtype=group.dtype)[:, None]
        return jnp.where(member, values[None, :], jnp.nan)

    def means(self, values, group):
        """(G,) group means of the per-walker `values`."""
        if len(self) == 1:
            return jnp.mean(values)[None]
        return jnp.nanmean(self._masked(values, group), axis=1)

    def mean(self, values, group):
        """sum_t w_t (mean of group t): the reported average."""
        if len(self) == 1:
            return jnp.mean(values)
        return jnp.asarray(self.weights, values.dtype) @ self.means(values, group)

    def variance(self, values, group):
        """sum_t w_t Var_t: the spread within the groups (not between their means)."""
        if len(self) == 1:
            return jnp.var(values)
        means = self.means(values, group)
        return self.mean((values - means[group]) ** 2, group)

    def centred(self, values, group):
        """Each walker's value minus its own group's mean."""
        if len(self) == 1:
            return values - jnp.mean(values)
        return values - self.means(values, group)[group]

    def centred_rows(self, rows, group):
        """Each walker's row (rows: (batch, ...)) minus its own group's mean row."""
        if len(self) == 1:
            return rows - jnp.mean(rows, axis=0)
        members = jax.nn.one_hot(group, len(self), dtype=rows.dtype)  # (batch, G)
        flat = rows.reshape(rows.shape[0], -1)
        means = (members.T @ flat) / jnp.sum(members, axis=0)[:, None]
        return (flat - members @ means).reshape(rows.shape)

    def clip(self, values, group, width: float):
        """qsolid.stats.clip_outliers within each group (its own median and spread)."""
        if len(self) == 1 or width == 0:
            return clip_outliers(values, width)
        masked = self._masked(values, group)
        median = jnp.nanmedian(masked, axis=1)
        spread = jnp.nanmean(jnp.abs(masked - median[:, None]), axis=1)
        return jnp.clip(values, (median - width * spread)[group], (median + width * spread)[group])

    def walker_weights(self, group, dtype):
        """c_i = w_t B / B_t (module docstring): mean_i c_i f_i = sum_t w_t mean_{i in t} f_i."""
        counts = jnp.sum(group[None, :] == jnp.arange(len(self), dtype=group.dtype)[:, None], axis=1)
        per_group = jnp.asarray(self.weights, dtype) * group.shape[0] / counts.astype(dtype)
        return per_group[group]


SINGLE = Groups(np.ones(1))
"""One group of weight 1: plain batch means."""


def block_view(x, n_groups: int):
    """(batch, ...) -> (G, batch / G, ...): the walkers of each group (the block layout)."""
    return jnp.reshape(x, (n_groups, x.shape[0] // n_groups, *x.shape[1:]))


__all__ = ["Groups", "SINGLE", "block_view"]
