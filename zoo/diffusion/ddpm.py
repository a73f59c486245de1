"""DDPM with ancestral and DDIM samplers, v-prediction and classifier-free guidance."""

import math

import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.diffusion.base import DiffusionModel, row_noise, to_model_space
from zoo.diffusion.process import GaussianDiffusion, ddim_invert, ddim_sample, ddpm_sample
from zoo.errors import ConfigError, InputError
from zoo.layers.sampling import per_row_seeds
from zoo.registry import base_arguments, register

SAMPLERS = ("ddpm", "ddim")
PREDICTIONS = ("epsilon", "v")


@register("ddpm")
class DDPM(DiffusionModel):
    """Denoising diffusion probabilistic model ([1]) with DDIM sampling ([2]).

    A U-Net learns to predict the noise eps in x_t = sqrt(ab_t) x_0 +
    sqrt(1 - ab_t) eps (or v = sqrt(ab_t) eps - sqrt(1 - ab_t) x_0, [4])
    with L_simple, [1] eq. 14. It samples with T ancestral steps
    (`sampler="ddpm"`, [1] algorithm 2) or S DDIM steps with stochasticity
    eta ([2] eq. 12; eta = 0 is deterministic and gives `encode`/`decode`).
    `elbo` is the variational bound of [1] eq. 5 with the discretized
    Gaussian decoder (eq. 13), a lower bound on log P of the 8-bit image,
    so its bits/dim share the 8-bit column with PixelCNN's exact NLL.

    Args:
      image_shape: (H, W, C).
      num_timesteps: T ([1]: 1000).
      schedule: "linear" ([1]) or "cosine" ([3]).
      prediction: "epsilon" ([1]) or "v" ([4]).
      variance: sigma_t^2 of the reverse process, "small" (beta-tilde_t) or
        "large" (beta_t) ([1] sec. 3.2).
      sampler: the default of `sample` and `serving_default`, "ddim" or "ddpm".
      sampling_steps: DDIM steps S of the default sampler (and of `encode`).
      eta: DDIM's default eta in [0, 1].
      ddim_signatures: step counts S that get an exported `sample_ddim_S`.
      clip_denoised: clip the predicted x_0 to [-1, 1] when sampling and in
        the bound, as [1]'s code does (never in `encode`/`decode`).
      widths, blocks_per_level, attention_levels, dropout, num_classes,
        label_dropout, ema_decay, seed: see `DiffusionModel`.

    References:
      [1] Ho, Jain, Abbeel. Denoising Diffusion Probabilistic Models.
          NeurIPS 2020.
      [2] Song, Meng, Ermon. Denoising Diffusion Implicit Models. ICLR 2021.
      [3] Nichol, Dhariwal. Improved Denoising Diffusion Probabilistic
          Models. ICML 2021.
      [4] Salimans, Ho. Progressive Distillation for Fast Sampling of
          Diffusion Models. ICLR 2022.
      [5] Ho, Salimans. Classifier-Free Diffusion Guidance. 2022.
    """

    def __init__(self, image_shape=(28, 28, 1), num_timesteps=1000, schedule="linear",
                 prediction="epsilon", variance="small", sampler="ddim", sampling_steps=50,
                 eta=0.0, ddim_signatures=(10, 50), clip_denoised=True, widths=(32, 64),
                 blocks_per_level=1, attention_levels=(1,), dropout=0.0, num_classes=None,
                 label_dropout=0.1, ema_decay=0.9999, seed=None, **kwargs):
        super().__init__(**base_arguments(DiffusionModel, locals()))
        self.process = GaussianDiffusion(num_timesteps, schedule, variance=variance)
        self.num_timesteps = self.process.num_timesteps
        self.prediction = checks.choice("prediction", prediction, PREDICTIONS)
        self.sampler = checks.choice("sampler", sampler, SAMPLERS)
        self.sampling_steps = self._config_steps("sampling_steps", sampling_steps)
        self.eta = checks.number("eta", eta, 0.0, 1.0)
        self.ddim_signatures = tuple(self._config_steps("ddim_signatures", s)
                                     for s in checks.positive_ints(
                                         "ddim_signatures", ddim_signatures, allow_empty=True))
        self.clip_denoised = bool(clip_denoised)

    def _config_steps(self, name, steps):
        try:
            return checks.int_in_range(name, steps, 1, self.num_timesteps)
        except ConfigError:
            raise ConfigError(f"{name} must be integers in [1, num_timesteps="
                              f"{self.num_timesteps}], got {steps!r}") from None

    # --------------------------------------------------------------- training
    def _training_pair(self, x0, training):
        rows = tf.shape(x0)[0]
        index = self._noise(lambda n, s: tf.random.stateless_uniform(
            [n], s, 0, self.num_timesteps, tf.int32), rows, training)
        eps = self._image_noise(rows, training)
        xt = self.process.q_sample(x0, index, eps)
        target = eps if self.prediction == "epsilon" else self.process.v_target(x0, index, eps)
        return xt, index, target

    def eps_predictor(self, labels=None, guidance=None, network=None):
        """(x_t, index) -> predicted eps (converted from v where the network predicts v)."""
        return self._as_eps(self.predictor(labels, guidance, network))

    def _noised(self, x0, fraction, eps):
        index = tf.fill(tf.shape(x0)[:1], int(round(fraction * (self.num_timesteps - 1))))
        return self.process.q_sample(x0, index, eps), index

    def _predicted_x0(self, xt, index):
        x0 = self.process.x0_from_eps(xt, index, self.eps_predictor()(xt, index))
        return tf.clip_by_value(x0, -1.0, 1.0)

    # --------------------------------------------------------------- sampling
    def sampler_options(self, sampler=None, steps=None, eta=None):
        """Checked settings: sampler "ddpm" (T steps, no eta) or "ddim" with
        `steps` in [1, T] and `eta` in [0, 1] (a number or one per row)."""
        sampler = self.sampler if sampler is None else sampler
        if sampler not in SAMPLERS:
            raise InputError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
        if sampler == "ddpm":
            if steps not in (None, self.num_timesteps) or eta is not None:
                raise InputError(f"the ddpm sampler runs all {self.num_timesteps} steps "
                                 "and has no eta; use sampler='ddim' for fewer steps")
            return {"sampler": "ddpm"}
        steps = self.sampling_steps if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or \
                not 1 <= steps <= self.num_timesteps:
            raise InputError(f"steps must be an integer in [1, {self.num_timesteps}], "
                             f"got {steps!r}")
        eta = self.eta if eta is None else eta
        if isinstance(eta, (int, float)):
            if not 0.0 <= eta <= 1.0:
                raise InputError(f"eta must be in [0, 1], got {eta!r}")
            eta = float(eta)
        else:
            eta = self.check_eta(eta)
        return {"sampler": "ddim", "steps": int(steps), "eta": eta}

    def _sampler_steps(self, sampler, steps=None, eta=None):
        return self.num_timesteps if sampler == "ddpm" else steps

    def _generate(self, x_t, noise, predict, sampler, steps=None, eta=None):
        eps = self._as_eps(predict)
        if sampler == "ddpm":
            return ddpm_sample(self.process, eps, x_t, noise, self.clip_denoised)
        deterministic = isinstance(eta, (int, float)) and eta == 0
        return ddim_sample(self.process, eps, x_t, steps, eta,
                           None if deterministic else noise, self.clip_denoised)

    def _as_eps(self, out):
        if self.prediction == "epsilon":
            return out
        return lambda x, index: self.process.eps_from_v(x, index, out(x, index))

    def _to_noise(self, x0, predict):
        return ddim_invert(self.process, self._as_eps(predict), x0, self.sampling_steps)

    def _from_noise(self, x_t, predict):
        return ddim_sample(self.process, self._as_eps(predict), x_t, self.sampling_steps,
                           0.0, None, clip=False)

    # ---------------------------------------------------------- the bound
    def elbo_from_seeds(self, images, seeds, labels=None):
        """The variational bound of [1] eq. 5 per image, nats (<= log P(x)).

        Every one of the T terms uses its own draw of q(x_t | x_0) from the
        image's seed row; x_0 is the image on the 8-bit grid in [-1, 1].

        Args:
          images: float32 [N, H, W, C] in [0, 1] (8-bit levels).
          seeds: int32 [N, 2].
          labels: int32 [N] for p(x | y) of a conditional model; None
            scores the unconditional model (the null label).
        """
        x0 = to_model_space(tf.round(images * 255.0) / 255.0)
        _, noise = row_noise(seeds, self.num_timesteps - 1, self.image_shape)
        predict = self.eps_predictor(labels)
        process = self.process

        def body(i, total):
            index = tf.fill(tf.shape(x0)[:1], i)
            # noise(-1) is the table's first column: one draw per term.
            xt = process.q_sample(x0, index, noise(i - 1))
            return i + 1, total + process.bound_term(x0, xt, index, predict(xt, index),
                                                     self.clip_denoised)

        # One term at a time: overlapping iterations would each hold a whole
        # network's activations (and crashed once under a long test session).
        _, total = tf.while_loop(lambda i, _: i < self.num_timesteps, body,
                                 (tf.constant(0), process.prior_kl(x0)),
                                 parallel_iterations=1)
        return -total

    def elbo(self, images, seed=0, labels=None):
        """`elbo_from_seeds` with seed rows [seed, i]: nats [N]."""
        images = self.check_images(images)
        if labels is not None:
            labels = self.labels_arg(labels, images.shape[0])
        return self.as_graph(self.elbo_from_seeds)(
            images, per_row_seeds(int(images.shape[0]), seed), labels)

    def _log_prob(self, images, seed=0, labels=None):
        """The variational lower bound (`elbo`), not the exact log P(x)."""
        return self.elbo(images, seed, labels)

    def bits_per_dim(self, nats):
        return -nats / (self.num_dims * math.log(2.0))

    # -------------------------------------------------------------- export
    def serving_endpoints(self):
        """Adds `sample_ddpm` (T ancestral steps), `sample_ddim_S` for each S of
        `ddim_signatures` (seed, eta [N] [, guidance, label] -> images) and
        `elbo` (images, seed -> nats and bits/dim of the bound; the
        unconditional model for conditional ones)."""
        endpoints = super().serving_endpoints()
        endpoints["sample_ddpm"] = self.sampling_endpoint(sampler="ddpm")
        for steps in self.ddim_signatures:
            endpoints[f"sample_ddim_{steps}"] = self._ddim_endpoint(steps)

        def elbo(images, seed):
            images = self.check_rows_match(self.check_images(images), seed)
            nats = self.elbo_from_seeds(images, checks.seeds(seed))
            return {"elbo": nats, "bits_per_dim": self.bits_per_dim(nats)}

        endpoints["elbo"] = self.endpoint(elbo, self.image_spec(), self.seed_spec(),
                                          labels=False)
        return endpoints

    def check_eta(self, eta):
        eta = tf.convert_to_tensor(eta, tf.float32)
        checks_ = [tf.debugging.assert_greater_equal(eta, 0.0, message="eta must be in [0, 1]"),
                   tf.debugging.assert_less_equal(eta, 1.0, message="eta must be in [0, 1]")]
        with tf.control_dependencies(checks_):
            return tf.identity(eta)

    def _ddim_endpoint(self, steps):
        eta_spec = tf.TensorSpec((None,), tf.float32, name="eta")

        def fn(seed, eta, guidance=None, labels=None):
            seed = self.check_rows_match(checks.seeds(seed), eta, guidance, labels)
            if guidance is not None:
                guidance = self.check_guidance(guidance)
            return {"images": self._sample_rows(seed, labels, guidance, sampler="ddim",
                                                steps=steps, eta=self.check_eta(eta))}

        if self.conditional:
            return self.endpoint(fn, self.seed_spec(), eta_spec, self.guidance_spec())
        return self.endpoint(fn, self.seed_spec(), eta_spec)
