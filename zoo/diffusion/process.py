"""Noise processes and their samplers, apart from any network.

`GaussianDiffusion` is the discrete-time forward process of DDPM [1] with
its closed forms (q(x_t | x_0), the posterior q(x_{t-1} | x_t, x_0), the
variational bound's terms) and `LinearPath` the interpolation of flow
matching / rectified flow [4, 5]. The samplers are functions of a
*predictor* callable, `predict(x, index) -> eps` or `velocity(x, t) -> v`,
so they run as well with a closed-form predictor (the tests) as with a
network, and every loop is a `tf.while_loop` that an exported graph serves.

Indexing. The paper's t = 1..T is index i = t - 1 = 0..T-1 here;
`alphas_cumprod[i]` is alpha-bar_t. Data live in [-1, 1].

References:
  [1] Ho, Jain, Abbeel. Denoising Diffusion Probabilistic Models. NeurIPS 2020.
  [2] Nichol, Dhariwal. Improved Denoising Diffusion Probabilistic Models.
      ICML 2021.
  [3] Song, Meng, Ermon. Denoising Diffusion Implicit Models. ICLR 2021.
  [4] Lipman, Chen, Ben-Hamu, Nickel, Le. Flow Matching for Generative
      Modeling. ICLR 2023.
  [5] Liu, Gong, Liu. Flow Straight and Fast: Learning to Generate and
      Transfer Data with Rectified Flow. ICLR 2023.
  [6] Salimans, Ho. Progressive Distillation for Fast Sampling of Diffusion
      Models. ICLR 2022.
"""

import math

import numpy as np
import tensorflow as tf

from zoo import checks

SCHEDULES = ("linear", "cosine")
VARIANCES = ("small", "large")
#: Grey levels of the data the discretized decoder scores (8-bit images).
DATA_LEVELS = 256


def make_betas(num_timesteps, schedule="linear", beta_start=1e-4, beta_end=0.02):
    """beta_1..beta_T as float64 [T].

    "linear": [1]'s 1e-4..0.02 for T = 1000, both ends scaled by 1000 / T
    so that fewer steps still end near pure noise ([2] sec. 3.2's scaling);
    "cosine": [2] eq. 17, alpha-bar(t) = cos^2(((t/T + s) / (1 + s)) pi/2)
    with s = 0.008 and betas clipped at 0.999.
    """
    schedule = checks.choice("schedule", schedule, SCHEDULES)
    if schedule == "linear":
        scale = 1000.0 / num_timesteps
        return np.linspace(min(beta_start * scale, 0.999), min(beta_end * scale, 0.999),
                           num_timesteps, dtype=np.float64)
    s = 0.008
    steps = np.arange(num_timesteps + 1, dtype=np.float64) / num_timesteps
    alpha_bar = np.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return np.clip(1.0 - alpha_bar[1:] / alpha_bar[:-1], 0.0, 0.999)


def _column(values, index, rank):
    """values[index] shaped [N, 1, ..., 1] to broadcast against rank-`rank` data."""
    v = tf.gather(tf.constant(values, tf.float32), index)
    return tf.reshape(v, tf.concat([tf.shape(index), tf.ones([rank - 1], tf.int32)], 0))


def normal_kl(mean1, logvar1, mean2, logvar2):
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)), elementwise, nats."""
    return 0.5 * (logvar2 - logvar1 + tf.exp(logvar1 - logvar2)
                  + tf.square(mean1 - mean2) * tf.exp(-logvar2) - 1.0)


def log_ndtr(x):
    """log Phi(x), the standard normal's log CDF, in TensorFlow's core ops
    (a served graph has no TFP): erfc where it has precision, and below
    x = -5 the asymptotic series log Phi(x) = -x^2/2 - log(-x sqrt(2 pi))
    + log(1 - 1/x^2 + 3/x^4 - 15/x^6) (error < 1e-5 there)."""
    x = tf.convert_to_tensor(x, tf.float32)
    direct = tf.where(x > 0, tf.math.log1p(-0.5 * tf.math.erfc(x / math.sqrt(2.0))),
                      tf.math.log(0.5 * tf.math.erfc(-tf.minimum(x, 0.0) / math.sqrt(2.0))))
    t = tf.minimum(x, -5.0)
    inv2 = 1.0 / tf.square(t)
    series = (-0.5 * tf.square(t) - tf.math.log(-t) - 0.5 * math.log(2.0 * math.pi)
              + tf.math.log(1.0 - inv2 + 3.0 * inv2 ** 2 - 15.0 * inv2 ** 3))
    return tf.where(x < -5.0, series, direct)


def _log_ndtr_difference(a, b):
    """log(Phi(b) - Phi(a)) for a < b, stable in both tails."""
    def lower(a, b):
        la, lb = log_ndtr(a), log_ndtr(b)
        return lb + tf.math.log(tf.maximum(-tf.math.expm1(la - lb), 1e-30))
    # Above zero, Phi(b) - Phi(a) = Phi(-a) - Phi(-b) keeps the precision.
    return tf.where(a > 0, lower(-b, -a), lower(a, b))


def discretized_gaussian_log_likelihood(x, mean, log_scale, levels=DATA_LEVELS):
    """log P(x) of [1] eq. 13: a Gaussian integrated over the bin of each of
    `levels` grey levels of x in [-1, 1], the outer bins reaching to +-inf,
    so the levels' probabilities sum to 1. Elementwise, nats."""
    half = 1.0 / (levels - 1)
    inv = tf.exp(-log_scale)
    upper = (x + half - mean) * inv
    lower = (x - half - mean) * inv
    return tf.where(x < -1.0 + half, log_ndtr(upper),
                    tf.where(x > 1.0 - half, log_ndtr(-lower),
                             _log_ndtr_difference(lower, upper)))


def _sum_dims(x):
    return tf.reduce_sum(x, axis=tf.range(1, tf.rank(x)))


class GaussianDiffusion:
    """The forward process q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)
    and the closed forms DDPM needs ([1] sec. 2).

    Args:
      num_timesteps: T >= 2.
      schedule: "linear" ([1]) or "cosine" ([2]).
      beta_start, beta_end: the linear schedule's ends for T = 1000.
      variance: the reverse process' fixed variance sigma_t^2, "small" =
        the posterior's beta-tilde_t ([1] sec. 3.2; at t = 1, where it is
        0, beta-tilde_2 as in [1]'s code), or "large" = beta_t.
    """

    def __init__(self, num_timesteps=1000, schedule="linear", beta_start=1e-4,
                 beta_end=0.02, variance="small"):
        self.num_timesteps = checks.int_at_least("num_timesteps", num_timesteps, 2)
        self.schedule = checks.choice("schedule", schedule, SCHEDULES)
        self.variance = checks.choice("variance", variance, VARIANCES)
        checks.number("beta_start", beta_start, 0.0, 1.0, low_open=True, high_open=True)
        checks.number("beta_end", beta_end, beta_start, 1.0, high_open=True)
        betas = make_betas(self.num_timesteps, schedule, beta_start, beta_end)
        alphas = 1.0 - betas
        ab = np.cumprod(alphas)
        ab_prev = np.append(1.0, ab[:-1])
        self.betas = betas
        self.alphas_cumprod = ab
        self.alphas_cumprod_prev = ab_prev
        post_var = betas * (1.0 - ab_prev) / (1.0 - ab)
        self.posterior_variance = post_var
        self.posterior_log_variance = np.log(np.append(post_var[1], post_var[1:]))
        self.posterior_coef_x0 = betas * np.sqrt(ab_prev) / (1.0 - ab)
        self.posterior_coef_xt = (1.0 - ab_prev) * np.sqrt(alphas) / (1.0 - ab)
        self.model_log_variance = (self.posterior_log_variance if variance == "small"
                                   else np.log(np.append(post_var[1], betas[1:])))

    # ------------------------------------------------------------ forward
    def q_sample(self, x0, index, eps):
        """x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps ([1] eq. 4)."""
        r = x0.shape.rank
        return (_column(np.sqrt(self.alphas_cumprod), index, r) * x0
                + _column(np.sqrt(1.0 - self.alphas_cumprod), index, r) * eps)

    def q_step(self, x_prev, index, eps):
        """One forward step x_{t-1} -> x_t ([1] eq. 2)."""
        r = x_prev.shape.rank
        return (_column(np.sqrt(1.0 - self.betas), index, r) * x_prev
                + _column(np.sqrt(self.betas), index, r) * eps)

    def posterior(self, x0, xt, index):
        """Mean and clipped log-variance of q(x_{t-1} | x_t, x_0) ([1] eqs. 6-7)."""
        r = xt.shape.rank
        mean = (_column(self.posterior_coef_x0, index, r) * x0
                + _column(self.posterior_coef_xt, index, r) * xt)
        return mean, _column(self.posterior_log_variance, index, r)

    # --------------------------------------------------- parameterizations
    def x0_from_eps(self, xt, index, eps):
        r = xt.shape.rank
        return (xt - _column(np.sqrt(1.0 - self.alphas_cumprod), index, r) * eps) / \
            _column(np.sqrt(self.alphas_cumprod), index, r)

    def eps_from_x0(self, xt, index, x0):
        r = xt.shape.rank
        return (xt - _column(np.sqrt(self.alphas_cumprod), index, r) * x0) / \
            _column(np.sqrt(1.0 - self.alphas_cumprod), index, r)

    def v_target(self, x0, index, eps):
        """v = sqrt(ab_t) eps - sqrt(1 - ab_t) x_0 ([6] sec. 4)."""
        r = x0.shape.rank
        return (_column(np.sqrt(self.alphas_cumprod), index, r) * eps
                - _column(np.sqrt(1.0 - self.alphas_cumprod), index, r) * x0)

    def eps_from_v(self, xt, index, v):
        """eps = sqrt(1 - ab_t) x_t + sqrt(ab_t) v (inverts `v_target` given x_t)."""
        r = xt.shape.rank
        return (_column(np.sqrt(1.0 - self.alphas_cumprod), index, r) * xt
                + _column(np.sqrt(self.alphas_cumprod), index, r) * v)

    def p_mean(self, xt, index, eps, clip=True):
        """Mean and log-variance of p(x_{t-1} | x_t): the posterior mean at the
        predicted x_0 ([1] eq. 11), x_0 clipped to [-1, 1] when `clip`."""
        x0 = self.x0_from_eps(xt, index, eps)
        if clip:
            x0 = tf.clip_by_value(x0, -1.0, 1.0)
        mean, _ = self.posterior(x0, xt, index)
        return mean, _column(self.model_log_variance, index, xt.shape.rank)

    # ------------------------------------------------- variational bound
    def prior_kl(self, x0):
        """L_T = KL(q(x_T | x_0) || N(0, I)) per image, nats."""
        last = tf.fill(tf.shape(x0)[:1], self.num_timesteps - 1)
        r = x0.shape.rank
        mean = _column(np.sqrt(self.alphas_cumprod), last, r) * x0
        logvar = tf.math.log(_column(1.0 - self.alphas_cumprod, last, r))
        return _sum_dims(normal_kl(mean, logvar * tf.ones_like(x0), 0.0, 0.0))

    def bound_term(self, x0, xt, index, eps, clip=True):
        """One term of [1] eq. 5 per image, nats: L_{t-1} =
        KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) for t > 1 and the
        discretized decoder's -log p(x_0 | x_1) ([1] eq. 13) for t = 1.

        Args:
          x0: data in [-1, 1] on the 8-bit grid, [N, ...].
          xt: a draw of q(x_t | x_0), [N, ...].
          index: int32 [N], t - 1.
          eps: the predicted noise at (x_t, t).
        """
        mean, logvar = self.p_mean(xt, index, eps, clip)
        q_mean, q_logvar = self.posterior(x0, xt, index)
        kl = _sum_dims(normal_kl(q_mean, q_logvar, mean, logvar))
        decoder = -_sum_dims(discretized_gaussian_log_likelihood(
            x0, mean, 0.5 * logvar * tf.ones_like(x0)))
        return tf.where(index == 0, decoder, kl)


def ddim_timesteps(num_timesteps, steps):
    """S increasing indices spread over [0, T - 1] ([3] sec. 4.2's subsequence tau)."""
    steps = checks.int_in_range("steps", steps, 1, num_timesteps)
    return np.round(np.linspace(0, num_timesteps - 1, steps)).astype(np.int32)


def _loop(num_steps, body, x):
    """x after `num_steps` calls of body(k, x), as a graph loop.

    One iteration at a time: each step needs the previous one anyway, and
    overlapping iterations of a loop that runs a whole network (with
    per-row `map_fn`s inside) only add memory and thread contention.
    """
    _, x = tf.while_loop(lambda k, _: k < num_steps, lambda k, x: (k + 1, body(k, x)),
                         (tf.constant(0), x), parallel_iterations=1)
    return x


def _batch_index(x, value):
    return tf.fill(tf.shape(x)[:1], tf.cast(value, tf.int32))


def ddpm_sample(process, predict, x, noise, clip=True):
    """Ancestral sampling, T steps ([1] algorithm 2).

    Args:
      process: a `GaussianDiffusion`.
      predict: (x_t [N, ...], index int32 [N]) -> predicted eps.
      x: x_T [N, ...].
      noise: k -> [N, ...] standard normal noise of step k (k = 0 at t = T).
      clip: clip the predicted x_0 to [-1, 1] at every step ([1]'s code).
    """
    num = process.num_timesteps

    def body(k, x):
        index = _batch_index(x, num - 1 - k)
        mean, logvar = process.p_mean(x, index, predict(x, index), clip)
        # No noise is added at the last step (t = 1).
        last = tf.cast(num - 1 - k > 0, tf.float32)
        return mean + last * tf.exp(0.5 * logvar) * noise(k)

    return _loop(num, body, x)


def ddim_sample(process, predict, x, steps, eta, noise, clip=True):
    """DDIM sampling with S steps and stochasticity eta ([3] eq. 12, 16).

    eta = 0 is deterministic (`noise` is then never drawn from), eta = 1
    the DDPM-like sampler on the subsequence.

    Args:
      process: a `GaussianDiffusion`.
      predict: (x_t, index) -> eps.
      x: x_T [N, ...].
      steps: S <= T.
      eta: float [N] in [0, 1], per row.
      noise: k -> [N, ...] noise of step k, or None when eta is 0.
      clip: clip the predicted x_0 to [-1, 1].
    """
    taus = ddim_timesteps(process.num_timesteps, steps)[::-1]
    ab = process.alphas_cumprod
    ab_t = tf.constant(ab[taus], tf.float32)
    ab_prev = tf.constant(np.append(ab[taus[1:]], 1.0), tf.float32)
    taus = tf.constant(taus)
    r = x.shape.rank
    eta = tf.reshape(tf.cast(eta, tf.float32), tf.concat([[-1], tf.ones([r - 1], tf.int32)], 0))

    def body(k, x):
        a, a_prev = ab_t[k], ab_prev[k]
        eps = predict(x, _batch_index(x, taus[k]))
        x0 = (x - tf.sqrt(1.0 - a) * eps) / tf.sqrt(a)
        if clip:
            x0 = tf.clip_by_value(x0, -1.0, 1.0)
            eps = (x - tf.sqrt(a) * x0) / tf.sqrt(1.0 - a)
        sigma = eta * tf.sqrt((1.0 - a_prev) / (1.0 - a) * (1.0 - a / a_prev))
        x_new = tf.sqrt(a_prev) * x0 + tf.sqrt(tf.maximum(1.0 - a_prev - sigma ** 2, 0.0)) * eps
        return x_new if noise is None else x_new + sigma * noise(k)

    return _loop(steps, body, x)


def ddim_invert(process, predict, x0, steps):
    """The deterministic DDIM map x_0 -> x_T run forwards ([3] sec. 4.3, eq. 13):
    each step re-noises the predicted x_0 with the predicted eps. The first
    step evaluates the predictor at (x_0, tau_1), the usual approximation of
    the implicit first step, so decode(invert(x)) = x up to that error."""
    taus = ddim_timesteps(process.num_timesteps, steps)
    ab = process.alphas_cumprod
    eval_at = tf.constant(np.append(taus[:1], taus[:-1]))
    ab_cur = tf.constant(np.append(1.0, ab[taus[:-1]]), tf.float32)
    ab_next = tf.constant(ab[taus], tf.float32)

    def body(k, x):
        eps = predict(x, _batch_index(x, eval_at[k]))
        x0_hat = (x - tf.sqrt(1.0 - ab_cur[k]) * eps) / tf.sqrt(ab_cur[k])
        return tf.sqrt(ab_next[k]) * x0_hat + tf.sqrt(1.0 - ab_next[k]) * eps

    return _loop(steps, body, x0)


class LinearPath:
    """The conditional path x_t = (1 - (1 - sigma_min) t) x_0 + t eps of flow
    matching ([4] eq. 20-23; sigma_min = 0 is rectified flow's straight line
    [5]); t = 0 is data, t = 1 noise, and the regression target is the
    path's velocity u = eps - (1 - sigma_min) x_0.

    Args:
      sigma_min: the noise left at the data end, in [0, 1).
    """

    def __init__(self, sigma_min=0.0):
        self.sigma_min = checks.number("sigma_min", sigma_min, 0.0, 1.0, high_open=True)

    def _t(self, t, rank):
        return tf.reshape(t, tf.concat([[-1], tf.ones([rank - 1], tf.int32)], 0))

    def interpolate(self, x0, t, eps):
        t = self._t(t, x0.shape.rank)
        return (1.0 - (1.0 - self.sigma_min) * t) * x0 + t * eps

    def velocity_target(self, x0, eps):
        return eps - (1.0 - self.sigma_min) * x0


SOLVERS = ("euler", "heun")


def integrate(velocity, x, t0, t1, steps, solver="euler"):
    """Solves dx/dt = velocity(x, t) from t0 to t1 in `steps` fixed steps.

    Args:
      velocity: (x [N, ...], t float32 [N]) -> dx/dt.
      x: the state at t0.
      solver: "euler" (one evaluation a step) or "heun" (Heun's second-order
        method, two).
    """
    solver = checks.choice("solver", solver, SOLVERS)
    steps = checks.positive_int("steps", steps)
    h = (t1 - t0) / steps

    def body(k, x):
        t = t0 + tf.cast(k, tf.float32) * h
        tv = tf.fill(tf.shape(x)[:1], t)
        v = velocity(x, tv)
        if solver == "euler":
            return x + h * v
        v2 = velocity(x + h * v, tv + h)
        return x + 0.5 * h * (v + v2)

    return _loop(steps, body, x)
