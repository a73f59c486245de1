"""The original GAN with fully connected players."""

from zoo import checks, losses
from zoo.gan.base import GANBase
from zoo.registry import register

GENERATOR_LOSSES = {"non_saturating": losses.non_saturating_generator,
                    "minimax": losses.minimax_generator}


@register("gan")
class GAN(GANBase):
    """Generative adversarial net with MLP generator and discriminator (Goodfellow et al. 2014).

    D maximizes log D(x) + log(1 - D(G(z))) ([1], eq. 1). G minimizes either
    the minimax objective log(1 - D(G(z))), which saturates early in training
    when D rejects every sample, or the non-saturating -log D(G(z)) that [1]
    (sec. 3) recommends. Each training step makes `k` discriminator updates,
    then one generator update ([1], Algorithm 1).

    Args:
      image_shape: (H, W, C).
      latent_dim: size of z ~ N(0, I).
      hidden_units: generator widths; the discriminator uses them reversed.
      generator_loss: "non_saturating" or "minimax".
      k: discriminator updates per generator update (>= 1).
      ema_decay: None or (0, 1): EMA of the generator's weights for sampling.
      seed: seeds training noise.

    References:
      [1] Goodfellow et al. Generative Adversarial Nets. NeurIPS 2014.
    """

    discriminator_norm = None

    def __init__(self, image_shape=(8, 8, 1), latent_dim=32, hidden_units=(256, 256),
                 generator_loss="non_saturating", k=1, ema_decay=None, seed=None,
                 **kwargs):
        super().__init__(image_shape=image_shape, latent_dim=latent_dim,
                         architecture="mlp", hidden_units=hidden_units,
                         ema_decay=ema_decay, seed=seed, **kwargs)
        self.generator_loss = GENERATOR_LOSSES[
            checks.choice("generator_loss", generator_loss, tuple(GENERATOR_LOSSES))]
        self.k = self.d_steps = checks.positive_int("k", k)
