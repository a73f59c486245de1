"""PixelCNN: a stack of masked convolutions with a per-channel categorical head."""

import tensorflow as tf

from zoo import checks
from zoo.autoregressive.base import AutoregressiveModel, PerChannelHead
from zoo.layers.autoregressive import MaskedConv2D
from zoo.registry import register


@register("pixelcnn")
class PixelCNN(PerChannelHead, AutoregressiveModel):
    """PixelCNN ([1], section 3.5; residual blocks as in [1], fig. 5).

    A mask-A convolution (the current pixel's channel is hidden), then
    residual blocks x + conv1x1(relu(conv_kxk(relu(x)))) with mask-B
    convolutions, then two 1x1 mask-B layers giving, per channel, a
    Bernoulli logit (num_levels=2) or num_levels logits. With C = 3 the
    channels are predicted in R, G, B order.

    Sampling uses a cached sampler ([2]): every layer keeps its activations
    in a buffer, and each new dimension computes one position per layer
    from a k x k window. An activation at pixel p depends only on pixels
    before p, so it is final once p's channels are drawn, and the cached
    sampler gives the naive sampler's images (`_complete_naive`).

    Args:
      image_shape: (H, W, C).
      num_levels: 2 (binary, Bernoulli) or grey levels per channel.
      filters: feature channels (a multiple of C).
      num_layers: residual blocks.
      kernel_size: odd size of the blocks' masked convolutions.
      first_kernel_size: odd size of the first (mask A) convolution.
      seed: unused randomness seed kept for the shared interface.

    References:
      [1] van den Oord, Kalchbrenner, Kavukcuoglu. Pixel Recurrent Neural
          Networks. ICML 2016.
      [2] Ramachandran et al. Fast Generation for Convolutional
          Autoregressive Models. ICLR workshop 2017.
    """

    def __init__(self, image_shape=(28, 28, 1), num_levels=2, filters=64,
                 num_layers=5, kernel_size=3, first_kernel_size=7, seed=None,
                 **kwargs):
        super().__init__(image_shape=image_shape, num_levels=num_levels,
                         num_classes=None, seed=seed, **kwargs)
        c = self.image_shape[-1]
        self.filters = checks.multiple_of("filters", filters, c, "channels")
        self.num_layers = checks.positive_int("num_layers", num_layers)
        self.kernel_size = checks.odd_int("kernel_size", kernel_size)
        self.first_kernel_size = checks.odd_int("first_kernel_size", first_kernel_size)
        self.first = MaskedConv2D(self.filters, self.first_kernel_size, "A", c, name="first")
        self.block_convs = [MaskedConv2D(self.filters, self.kernel_size, "B", c,
                                         name=f"block{i}_conv") for i in range(self.num_layers)]
        self.block_outs = [MaskedConv2D(self.filters, 1, "B", c, name=f"block{i}_out")
                           for i in range(self.num_layers)]
        self.head_hidden = MaskedConv2D(self.filters, 1, "B", c, name="head_hidden")
        self.head_out = MaskedConv2D(self.output_channels, 1, "B", c, name="head_out")
        self._finish_build()

    def _network(self, x, labels=None, training=False):
        h = self.first(x)
        for conv, out in zip(self.block_convs, self.block_outs):
            h = h + out(tf.nn.relu(conv(tf.nn.relu(h))))
        return self.head_out(tf.nn.relu(self.head_hidden(tf.nn.relu(h))))

    # ----------------------------------------------------- cached sampler
    def _complete_cached(self, levels, known_rows, noise, labels=None):
        return self._cached_loop(levels, known_rows, noise)

    @tf.function(reduce_retracing=True)
    def _cached_loop(self, levels, known_rows, noise):
        h, w, c = self.image_shape
        canvas, row_known, first = self._start(levels, known_rows)
        first_row = first // (w * c)
        k0, k = self.first_kernel_size, self.kernel_size
        p0, p = k0 // 2, k // 2

        def padded(t, pad):
            # [N, H, W, F] -> position-major [H + 2 pad, W + 2 pad, N, F]
            # with zero borders, i.e. the "same" padding of the convolutions.
            return tf.pad(tf.transpose(t, [1, 2, 0, 3]),
                          [[pad, pad], [pad, pad], [0, 0], [0, 0]])

        # Each layer's input is cached as a window of the k rows around the
        # current one ([2]); rows above come from one full pass (they hold
        # final values: rows known in every image are skipped by the loop)
        # and rows at and below the current one are written before any
        # unmasked tap reads them.
        x = self.levels_to_input(canvas)
        x_win = padded(x, p0)[first_row:first_row + k0]
        wins = []
        act = self.first(x)
        for conv, out in zip(self.block_convs, self.block_outs):
            wins.append(padded(tf.nn.relu(act), p)[first_row:first_row + k])
            act = act + out(tf.nn.relu(conv(tf.nn.relu(act))))

        def put(win, pad, col, value):
            return tf.tensor_scatter_nd_update(win, [[pad, col + pad]], tf.cast(value, win.dtype)[None])

        def roll(win):
            return tf.concat([win[1:], tf.zeros_like(win[:1])], 0)

        def pixel_step(r, step, canvas, x_win, wins):
            col, channel = step // c, step % c
            act = self.first.call_at(tf.slice(x_win, [0, col, 0, 0], [k0, k0, -1, -1]))
            new_wins = []
            for conv, out, win in zip(self.block_convs, self.block_outs, wins):
                win = put(win, p, col, tf.nn.relu(act))
                y = conv.call_at(tf.slice(win, [0, col, 0, 0], [k, k, -1, -1]))
                act = act + out.call_at(tf.nn.relu(y)[None, None])
                new_wins.append(win)
            hidden = self.head_hidden.call_at(tf.nn.relu(act)[None, None])
            params = self.head_out.call_at(tf.nn.relu(hidden)[None, None])
            value = self._sample_channel(params, canvas[:, r, col], noise[:, r, col], channel)
            canvas = self._write(canvas, (r * w + col) * c + channel, value, row_known, r)
            x_win = put(x_win, p0, col, self.levels_to_input(canvas[:, r, col]))
            return step + 1, canvas, x_win, new_wins

        def row_step(r, canvas, x_win, wins):
            _, canvas, x_win, wins = tf.while_loop(
                lambda step, *_: step < w * c,
                lambda *args: pixel_step(r, *args), (0, canvas, x_win, wins))
            return r + 1, canvas, roll(x_win), [roll(win) for win in wins]

        _, canvas, _, _ = tf.while_loop(lambda r, *_: r < h, row_step,
                                        (first_row, canvas, x_win, wins))
        return canvas
