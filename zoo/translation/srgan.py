"""SRGAN: SRResNet's generator trained against a discriminator, with a content loss."""

import keras
import tensorflow as tf

from zoo import checks, losses
from zoo.errors import ConfigError
from zoo.gan.base import GANBase, to_symmetric, to_unit
from zoo.registry import register
from zoo.translation import networks
from zoo.translation.base import Translation
from zoo.translation.srresnet import SRResNet, upscale_factor

#: The classifier layer whose activations are the content features
#: (`training.classifier.FEATURES_LAYER`).
FEATURES_LAYER = "features"


@register("srgan")
class SRGAN(Translation, GANBase):
    """SRGAN ([1]): SRResNet's generator and a DCGAN-style discriminator.

    G's loss is the content loss + 1e-3 x the non-saturating adversarial
    loss ([1], eq. 3). [1]'s content loss compares VGG features of x_hat
    and x; pretrained VGG cannot be downloaded here, so the content network
    is one the zoo trains itself: `content_classifier` names a run of
    `zoo train classifier` on the high-resolution dataset, whose
    penultimate-layer features (frozen) are compared by squared error. With
    no classifier the content loss is the pixel-wise squared error ("SRGAN-
    MSE" in [1], table 1). [1] pre-trains G as SRResNet: start from a
    finished `srresnet` run with `--init-from`, which copies its generator.

    Args:
      image_shape, source_shape: high- and low-resolution shapes (F in {2, 4}).
      filters, blocks, batchnorm: the generator (as `srresnet`).
      discriminator_filters: channels of D's stride-2 stages.
      adversarial_weight: 1e-3 in [1].
      content_classifier: None, or a classifier run directory.
      ema_decay: None or (0, 1): EMA of the generator for translations.
      seed: seeds the training noise.

    References:
      [1] Ledig et al. Photo-Realistic Single Image Super-Resolution Using a
          Generative Adversarial Network. CVPR 2017.
    """

    example_task = "task:superres(digits,factor=2)"
    metric_names = GANBase.metric_names + ("content",)

    def __init__(self, image_shape=(8, 8, 1), source_shape=(4, 4, 1), filters=32, blocks=2,
                 batchnorm=False, discriminator_filters=(32, 64), adversarial_weight=1e-3,
                 content_classifier=None, ema_decay=None, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, latent_dim=1, architecture="dcgan",
                         filters=discriminator_filters, ema_decay=ema_decay, seed=seed,
                         **kwargs)
        self.source_shape = checks.image_shape(source_shape)
        self.factor = upscale_factor(self.source_shape, self.image_shape)
        self.generator_filters = checks.positive_int("filters", filters)
        self.blocks = checks.int_at_least("blocks", blocks, 0)
        self.batchnorm = bool(batchnorm)
        self.adversarial_weight = checks.non_negative_float("adversarial_weight",
                                                            adversarial_weight)
        self.content_classifier = content_classifier
        self.content_network = self._content_network(content_classifier)

    def _content_network(self, run_dir):
        if run_dir is None:
            return None
        import os

        path = os.path.join(str(run_dir), "model.keras")
        try:
            classifier = keras.saving.load_model(path, compile=False)
            features = classifier.get_layer(FEATURES_LAYER).output
        except Exception as e:  # noqa: BLE001 - a missing or foreign file
            raise ConfigError(f"content_classifier={run_dir!r}: cannot load a zoo classifier "
                              f"from {path} ({str(e).splitlines()[0][:200]}); train one with "
                              "`zoo train classifier --dataset SPEC`") from None
        if tuple(classifier.input_shape[1:]) != self.image_shape:
            raise ConfigError(f"content_classifier={run_dir!r} reads "
                              f"{tuple(classifier.input_shape[1:])} images, not {self.image_shape}")
        network = keras.Model(classifier.inputs, features, name="content_network")
        network.trainable = False
        return network

    def _build_generator(self, name):
        return networks.residual_generator(self.source_shape, self.image_shape[-1],
                                           self.generator_filters, self.blocks, self.factor,
                                           batchnorm=self.batchnorm, name=name)

    def _discriminator_inputs(self, real, labels, z, training):
        return real, self.generator(to_symmetric(labels), training=training)

    def _generator_terms(self, p):
        adversarial = self.generator_loss(p.fake_out[:, 0])
        fake, real = to_unit(p.fake_input), to_unit(p.real)
        if self.content_network is not None:
            fake, real = self.content_network(fake), self.content_network(real)
        content = tf.reduce_mean(tf.square(tf.cast(fake, tf.float32) - tf.cast(real, tf.float32)),
                                 list(range(1, len(fake.shape))))
        return {"g_loss": content + self.adversarial_weight * adversarial, "content": content}

    def warm_start(self, source):
        """Copies a trained `srresnet`'s generator (the MSE pre-training)."""
        if not isinstance(source, SRResNet):
            raise ConfigError(f"srgan starts from an srresnet run, not {source.registered_name}")
        theirs = [tuple(w.shape) for w in source.generator.weights]
        if theirs != [tuple(w.shape) for w in self.generator.weights]:
            raise ConfigError("the srresnet run's generator differs (filters, blocks or "
                              "shapes); use the same --set options")
        for network in [self.generator] + ([self.ema_generator] if self.ema_decay else []):
            for mine, their in zip(network.weights, source.generator.weights):
                mine.assign(their)
        return ["generator"]

    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        endpoints["upscale"] = endpoints["translate"]
        return endpoints
