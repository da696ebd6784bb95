"""Optimisers (KFAC through kfac-jax, SPRING, Adam through optax) and the VMC energy gradient.

The energy gradient (seed 000, Eq. 6, first term, for Psi = exp(a + i b)) is

    grad E = 2 E[ (Re E_L - E) grad a + Im E_L grad b ],

estimated on the walkers. It is the gradient of the surrogate loss
2 mean( sg(E_L - E) a + sg(Im E_L) b ) with sg the stop-gradient, with the
real and imaginary parts of the local energies each clipped to median +- c *
(mean absolute deviation) to tame the heavy tails near nodes and coalescence
points. KFAC's curvature is the Fisher matrix of log|Psi| (registered as the
mean of a unit normal predictive distribution), i.e. natural-gradient descent.

Walker groups (a twist set, qsolid.vmc.groups): the gradient is the weighted
sum of the groups' gradients, 2 sum_t w_t E_t[(E_L - E_t) grad ln Psi*], each
walker centred (and clipped) within its own group, i.e. the surrogate
2 mean_i c_i (sg(E_L,i - E_t(i)) a_i + ...) with the walker weights c_i of
qsolid.vmc.groups. The curvature is weighted alike: sqrt(c_i) log|Psi_i| is
registered, whose Fisher is mean_i c_i grad a_i grad a_i^T = sum_t w_t F_t,
from the same layers. One group: c_i = 1, the plain estimator above.

Learning rate: lr / (1 + t / delay)^decay.

SPRING (Goldshmiedt et al., arXiv:2401.10190): stochastic reconfiguration in its
kernel form with a Kaczmarz-type momentum. With O_i = grad ln Psi(R_i)
centred within its group and scaled by sqrt(c_i / B), stack the real
parameter-space rows  Obar = [Re O; Im O]  (2B x P) and the residuals
eps = [Re E_L - E_t; Im E_L] sqrt(c_i / B)  (2B, clipped like the gradient).
Then Obar^T Obar = S, the Fubini-Study metric Re<O* O>, and Obar^T eps = g / 2,
half the energy gradient above. One step is

    phi_k = Obar^T (Obar Obar^T + lambda I)^{-1} (eps - mu Obar phi_{k-1}) + mu phi_{k-1},
    theta <- theta - eta_k phi_k,

equivalently phi_k = (S + lambda I)^{-1} (g / 2 + lambda mu phi_{k-1}): with mu = 0
it is damped SR, solved through the 2B x 2B kernel instead of the P x P metric.
The step obeys the norm constraint eta^2 |Obar phi|^2 <= C (KFAC's bound, here in
the metric S); the direction actually taken is what the momentum carries. At one
learning rate phi = S^{-1} g / 2 is half of KFAC's F^{-1} g: the norm constraint,
active in most steps, makes the two steps equally long in their metrics.

Quantum nuclei: the electronic parameters take KFAC (or Adam) steps and the
parameters of the nuclear factor chi (Alg. 1, Eq. 3) take Adam steps of their
own, lr_chi / (1 + t / delay)^decay, from the same energy gradient. Under KFAC
alone chi barely moves: in the Fisher metric of |Psi|^2 a narrow chi makes
b_IJ and sigma_IJ "expensive", and the norm constraint, set by the electrons,
scales the nuclear step further down (measured on an 8-atom H2 crystal: after
1100 steps sigma had moved by 0.05 % and the ReZero alpha stayed below 1e-3,
while the energy gradient along b had norm 1.6).
"""

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import kfac_jax
from kfac_jax._src import tracer as kfac_tracer
import optax
from jax.flatten_util import ravel_pytree

from qsolid.vmc.groups import SINGLE, Groups


@dataclasses.dataclass(frozen=True)
class Batch:
    """What one optimisation step sees: configurations and their local energies."""

    electrons: jax.Array
    nuclei: jax.Array
    energy: jax.Array
    energy_imag: jax.Array
    group: jax.Array
    """(batch,) int32 group (twist) of each walker (qsolid.vmc.groups)."""


jax.tree_util.register_dataclass(
    Batch, data_fields=["electrons", "nuclei", "energy", "energy_imag", "group"], meta_fields=[]
)


@dataclasses.dataclass(frozen=True)
class HeldBatch:
    """A Batch plus the parameters held fixed during the electronic step (chi's, for KFAC)."""

    batch: Batch
    held: dict


jax.tree_util.register_dataclass(HeldBatch, data_fields=["batch", "held"], meta_fields=[])


def learning_rate_schedule(config, initial: float | None = None) -> Callable:
    """lr / (1 + t / delay)^decay with lr = `initial` or config.learning_rate."""
    rate = config.learning_rate if initial is None else initial

    def schedule(step):
        return rate / (1.0 + step / config.learning_rate_delay) ** config.learning_rate_decay

    return schedule


def make_surrogate_loss(wavefunction, clip_width: float, groups: Groups = SINGLE):
    """loss(params, batch) -> (surrogate, aux) whose gradient is the VMC energy gradient
    (averaged over the walker groups with their weights)."""

    def loss(params, batch: Batch):
        phase, log_abs = jax.vmap(wavefunction.apply, in_axes=(None, 0, 0, 0))(
            params, batch.electrons, batch.nuclei, batch.group
        )
        centred = jax.lax.stop_gradient(groups.centred(groups.clip(batch.energy, batch.group, clip_width), batch.group))
        imag = jax.lax.stop_gradient(groups.centred(groups.clip(batch.energy_imag, batch.group, clip_width), batch.group))
        terms = centred * log_abs + imag * phase
        if len(groups) == 1:
            kfac_jax.register_normal_predictive_distribution(log_abs[:, None])
        else:
            weights = groups.walker_weights(batch.group, log_abs.dtype)
            kfac_jax.register_normal_predictive_distribution((jnp.sqrt(weights) * log_abs)[:, None])
            terms = weights * terms
        surrogate = 2.0 * jnp.mean(terms)
        return surrogate, {"energy": groups.mean(batch.energy, batch.group)}

    return loss


@dataclasses.dataclass(frozen=True)
class Optimiser:
    init: Callable
    """init(params, key, batch) -> state"""
    step: Callable
    """step(params, state, key, batch) -> (params, state)"""


def _electron_loss(loss):
    """loss over the electronic parameters, the others (chi's) carried by a HeldBatch."""

    def electron_loss(electron_params, held_batch: HeldBatch):
        return loss({"electrons": electron_params, **held_batch.held}, held_batch.batch)

    return electron_loss


class _FirstSeenOrder(set):
    """A set that iterates in the order its elements were first given, not in hash order."""

    def __init__(self, iterable=()):
        self._order = list(dict.fromkeys(iterable))
        super().__init__(self._order)

    def __iter__(self):
        return iter(self._order)


def _trace_kfac_deterministically() -> None:
    """kfac-jax 0.0.8 removes repeated layer-tag inputs with list(set(...)) of jaxpr variables,
    which hash by memory address: the same step was lowered with its operations in a different
    order in every process, so JAX's persistent cache never found the KFAC step and every run or
    resume compiled it again. Its tracer's `set` keeps first-seen order instead (what the set is
    used for there is unchanged); tests/vmc/test_optim.py checks that two processes lower one program."""
    kfac_tracer.set = _FirstSeenOrder


def make_kfac(loss, config) -> Optimiser:
    """KFAC on params["electrons"]; batch is a HeldBatch with the remaining parameters."""
    _trace_kfac_deterministically()
    optimiser = kfac_jax.Optimizer(
        value_and_grad_func=jax.value_and_grad(_electron_loss(loss), has_aux=True),
        l2_reg=0.0,
        value_func_has_aux=True,
        learning_rate_schedule=learning_rate_schedule(config),
        momentum_schedule=lambda step: jnp.zeros(()),
        damping_schedule=lambda step: jnp.asarray(config.damping),
        norm_constraint=config.norm_constraint,
        num_burnin_steps=0,
        estimation_mode="fisher_exact",
        curvature_ema=0.95,
        inverse_update_period=1,
        min_damping=1e-6,
        multi_device=False,
        # Masking treats all-zero output gradients as padding; a layer whose gradients vanish at the
        # start would get non-finite inverses.
        layer_tag_to_block_ctor={
            "repeated_dense": functools.partial(kfac_jax.RepeatedDenseKroneckerFactored, use_masking=False)
        },
    )

    def step(params, state, key, batch):
        # kfac-jax donates its inputs; copies keep the pre-step state for a rewind (free inside a jit).
        params, state = jax.tree.map(jnp.copy, (params, state))
        # global_step_int spares kfac-jax reading the step counter back to the host, so the step can be
        # traced into a larger jit; with no burn-in, curvature updated every step and fixed damping,
        # kfac-jax's choices do not depend on it.
        params, state, _ = optimiser.step(params, state, key, batch=batch, global_step_int=1)
        return params, state

    return Optimiser(init=optimiser.init, step=step)


def spring_system(wavefunction, clip_width: float, groups: Groups = SINGLE):
    """system(electron_params, held_batch) -> (Obar (2B, P), eps (2B,), unravel) of the module docstring."""

    def system(electron_params, held_batch: HeldBatch):
        batch = held_batch.batch
        flat, unravel = ravel_pytree(electron_params)

        def log_psi(flat, electrons, nuclei, group):
            params = {"electrons": unravel(flat), **held_batch.held}
            phase, log_abs = wavefunction.apply(params, electrons, nuclei, group)
            return jnp.stack([log_abs, phase])

        # (B, 2, P): the gradients of ln|Psi| and of the phase of every walker
        jacobian = jax.vmap(jax.jacrev(log_psi), in_axes=(None, 0, 0, 0))(flat, batch.electrons, batch.nuclei, batch.group)
        n_walkers = batch.energy.shape[0]
        scale = jnp.sqrt(groups.walker_weights(batch.group, flat.dtype) / n_walkers)
        rows = groups.centred_rows(jacobian, batch.group) * scale[:, None, None]
        real = groups.centred(groups.clip(batch.energy, batch.group, clip_width), batch.group)
        imag = groups.centred(groups.clip(batch.energy_imag, batch.group, clip_width), batch.group)
        eps = jnp.stack([real, imag], axis=1) * scale[:, None]
        return rows.reshape(2 * n_walkers, -1), eps.reshape(-1).astype(flat.dtype), unravel

    return system


def spring_direction(rows, eps, previous, damping: float, momentum: float):
    """phi = Obar^T (Obar Obar^T + lambda I)^{-1} (eps - mu Obar phi_prev) + mu phi_prev (module docstring).

    The kernel is inverted through its eigendecomposition with the eigenvalues' rounding below zero
    clipped: a Cholesky factorisation in float32 returned NaN once outlier walkers had raised the
    kernel's largest eigenvalue to ~5e3 against lambda = 1e-3 (bcc16, docs/performance.md)."""
    values, vectors = jnp.linalg.eigh(rows @ rows.T)
    residual = eps - momentum * (rows @ previous)
    solved = vectors @ ((vectors.T @ residual) / (jnp.maximum(values, 0.0) + damping))
    return rows.T @ solved + momentum * previous


def make_spring(wavefunction, config, groups: Groups = SINGLE) -> Optimiser:
    """SPRING on params["electrons"]; batch is a HeldBatch with the remaining parameters.

    State: the previous direction phi (flat) and the step count (for the learning-rate schedule).
    """
    system = spring_system(wavefunction, config.clip_local_energy, groups)
    schedule = learning_rate_schedule(config)

    def init(params, key, batch):
        flat, _ = ravel_pytree(params)
        return {"direction": jnp.zeros_like(flat), "step": jnp.zeros((), jnp.int32)}

    def step(params, state, key, batch):
        rows, eps, unravel = system(params, batch)
        phi = spring_direction(rows, eps, state["direction"], config.damping, config.momentum)
        rate = schedule(state["step"])
        metric_norm2 = jnp.sum((rows @ phi) ** 2)
        phi = phi * jnp.minimum(1.0, jnp.sqrt(config.norm_constraint / (rate**2 * metric_norm2)))
        flat, _ = ravel_pytree(params)
        return unravel(flat - rate * phi), {"direction": phi, "step": state["step"] + 1}

    return Optimiser(init=init, step=step)


def make_adam(loss, learning_rate: Callable) -> Optimiser:
    """Adam on all parameters of loss(params, batch)."""
    transform = optax.chain(optax.scale_by_adam(), optax.scale_by_schedule(lambda t: -learning_rate(t)))
    gradient = jax.grad(lambda p, b: loss(p, b)[0])

    @jax.jit
    def step(params, state, key, batch):
        updates, state = transform.update(gradient(params, batch), state, params)
        return optax.apply_updates(params, updates), state

    return Optimiser(init=lambda params, key, batch: transform.init(params), step=step)


def make_optimiser(wavefunction, config, groups: Groups = SINGLE) -> Optimiser:
    """Electrons: KFAC, SPRING or Adam (config.optimiser); nuclei (if quantum): Adam at nuclear_learning_rate.

    State (electronic state, nuclear Adam state); the nuclear step uses the
    parameters before the electronic one, so both follow the same gradient.
    """
    loss = make_surrogate_loss(wavefunction, config.clip_local_energy, groups)
    if config.optimiser == "kfac":
        electronic = make_kfac(loss, config)
    elif config.optimiser == "spring":
        electronic = make_spring(wavefunction, config, groups)
    else:
        electronic = make_adam(_electron_loss(loss), learning_rate_schedule(config))

    def nuclear_loss(held, batch: HeldBatch):
        return loss({"electrons": batch.held["electrons"], **held}, batch.batch)

    nuclear = make_adam(nuclear_loss, learning_rate_schedule(config, config.nuclear_learning_rate))

    def split(params, batch: Batch):
        held = {k: v for k, v in params.items() if k != "electrons"}
        return held, HeldBatch(batch, held), HeldBatch(batch, {"electrons": params["electrons"]})

    def init(params, key, batch):
        held, electron_batch, nuclear_batch = split(params, batch)
        return electronic.init(params["electrons"], key, electron_batch), nuclear.init(held, key, nuclear_batch)

    def step(params, state, key, batch):
        held, electron_batch, nuclear_batch = split(params, batch)
        electron_state, nuclear_state = state
        electron_params, electron_state = electronic.step(params["electrons"], electron_state, key, electron_batch)
        if held:
            held, nuclear_state = nuclear.step(held, nuclear_state, key, nuclear_batch)
        return {"electrons": electron_params, **held}, (electron_state, nuclear_state)

    return Optimiser(init=init, step=step)
