"""Nuclear wavefunction ln chi(R) of seed 000, Alg. 1 and Eq. 3.

For one walker with nuclear fractional coordinates S_I (R_I = L^T S_I):

1. Relative phases (Alg. 1, lines 5-7): omega_IJ^k = (R_I - R_J) . b_k
   = 2 pi (S_I - S_J)_k, with b_k the reciprocal vectors (a_k . b_l = 2 pi delta_kl).
2. Pair features (lines 8-10, Eq. S2, divided by 2 pi as in `qsolid.vmc.features`)
       h_IJ^1 = { sum_k sin(omega_IJ^k) a_k, sum_k cos(omega_IJ^k) a_k, d(omega_IJ) },
   with d(omega) the periodic distance of Eq. S1 (d -> |R_I - R_J| at short range).
3. Residual tanh stream (lines 11-14): for every layer l
       h_IJ^{l+1} = tanh(Pi_atom^l h_IJ^l + c_atom^l),
       h_IJ^{l+1} = (h_IJ^l + h_IJ^{l+1}) / sqrt(2).
   The first layer maps the 7 features to `width` channels and has no
   residual term (the widths differ); every later layer is width -> width
   with the residual.
4. Distance head and ReZero (lines 15-16):
       d_IJ^pred = Pi_atom^dist h_IJ^L + c_atom^dist,
       d_IJ^env  = alpha d_IJ^pred + d(omega_IJ),
   with the trainable scalar alpha initialised to 0, so the network starts
   from the periodic distance itself and learns many-body corrections.
5. Log-amplitude (line 17, Eq. 3):
       ln chi(R) = - sum_{I<J} sigma_IJ^2 (d_IJ^env - b_IJ)^2.

Pair convention. Eq. 3 sums over pairs IJ; we sum over the unordered pairs
I < J (I = J is excluded: d(0) = 0 carries no information) with one b_IJ and
one sigma_IJ per pair. The features are odd under I <-> J (sin omega changes
sign), so the network is evaluated on both orders, as in Alg. 1, and the
prediction is symmetrised, d_IJ^pred = (f(h_IJ) + f(h_JI)) / 2. Hence ln chi
does not depend on which nucleus of a pair is called I, and relabelling the
nuclei together with b and sigma leaves it unchanged.

Initialisation. b_IJ = d(omega_IJ) of the starting structure, so ln chi = 0,
its maximum, there. Each factor |chi|^2 ~ exp(-2 sigma^2 (d - b)^2) alone is
a Gaussian of standard deviation 1 / (2 sigma) in the pair distance; sigma is
set so that this width is `pair_width_bohr`.

With alpha = 0 the gradient of ln chi with respect to every stream output is
exactly zero. kfac-jax's repeated-dense blocks read all-zero output gradients
as padded (masked) rows, count zero rows and cache non-finite inverses, so the
optimiser must build them with `use_masking=False` (there is no padding here);
see the KFAC test.

A single nucleus has no pairs and ln chi = 0. chi is real and positive, so it
has no phase; it depends on fractional coordinates only, the feature lattice
being fixed (see `qsolid.vmc.features`).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from qsolid.vmc import features
from qsolid import dense


@dataclasses.dataclass(frozen=True)
class NuclearAnsatzSpec:
    """Static description the network is built for."""

    n_nuclei: int
    feature_lattice: np.ndarray
    """(3, 3) lattice vectors a_k as rows, bohr."""
    width: int
    layers: int
    """Number of tanh layers of the pair stream (the first 7 -> width, the rest residual)."""

    @property
    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices (I, J) of the unordered pairs I < J, in row-major order."""
        return np.triu_indices(self.n_nuclei, k=1)

    @property
    def n_pairs(self) -> int:
        return self.n_nuclei * (self.n_nuclei - 1) // 2


def make_spec(n_nuclei: int, feature_lattice, width: int = 32, layers: int = 2) -> NuclearAnsatzSpec:
    if n_nuclei < 1:
        raise ValueError(f"n_nuclei must be at least 1, got {n_nuclei}")
    if width < 1 or layers < 0:
        raise ValueError(f"width must be positive and layers non-negative, got width={width}, layers={layers}")
    return NuclearAnsatzSpec(
        n_nuclei=n_nuclei,
        feature_lattice=np.asarray(feature_lattice, dtype=float),
        width=width,
        layers=layers,
    )


def pair_distances(spec: NuclearAnsatzSpec, nuclei):
    """Periodic distances d(omega_IJ) (Eq. S1 / 2 pi) of the pairs I < J, shape (n_pairs,)."""
    first, second = spec.pairs
    feature_lattice = jnp.asarray(spec.feature_lattice, dtype=nuclei.dtype)
    return features.pair_features(nuclei[first] - nuclei[second], feature_lattice)[1]


def init(key, spec: NuclearAnsatzSpec, reference_nuclei, pair_width_bohr: float = 0.15):
    """Parameters of ln chi; b and sigma from the starting structure `reference_nuclei` (n, 3) fractional."""
    if pair_width_bohr <= 0:
        raise ValueError(f"pair_width_bohr must be positive, got {pair_width_bohr}")
    keys = jax.random.split(key, spec.layers + 1)
    widths = [7] + [spec.width] * spec.layers
    reference = jnp.asarray(reference_nuclei)
    if reference.shape != (spec.n_nuclei, 3):
        raise ValueError(f"reference_nuclei must have shape ({spec.n_nuclei}, 3), got {reference.shape}")
    distances = pair_distances(spec, reference)
    return {
        "layers": [dense.init(keys[l], widths[l], widths[l + 1]) for l in range(spec.layers)],
        "distance": dense.init(keys[-1], widths[-1], 1),
        "alpha": jnp.zeros((), distances.dtype),
        "b": distances,
        "sigma": jnp.full(spec.n_pairs, 0.5 / pair_width_bohr, distances.dtype),
    }


def apply(params, spec: NuclearAnsatzSpec, nuclei):
    """ln chi(R) (a scalar) for one walker; nuclei (n_n, 3) fractional."""
    first, second = spec.pairs
    feature_lattice = jnp.asarray(spec.feature_lattice, dtype=nuclei.dtype)
    displacement = nuclei[first] - nuclei[second]
    # Both orders IJ and JI, stacked along the pair axis, so the prediction can be symmetrised.
    h, distance = features.pair_features(jnp.concatenate([displacement, -displacement]), feature_lattice)
    for l, layer in enumerate(params["layers"]):
        update = jnp.tanh(dense.apply(layer, h))
        h = update if l == 0 else (h + update) / np.sqrt(2.0)
    predicted = dense.apply(params["distance"], h)[:, 0]
    predicted = 0.5 * (predicted[: spec.n_pairs] + predicted[spec.n_pairs :])
    # einsum rather than alpha * predicted: kfac-jax would read the broadcast product as a scale layer.
    environment_distance = jnp.einsum("p,->p", predicted, params["alpha"]) + distance[: spec.n_pairs]
    deviation = environment_distance - params["b"]
    return -jnp.einsum("p,p->", params["sigma"] ** 2, deviation**2)
