"""Gated PixelCNN: vertical and horizontal stacks, gated units, optional classes."""

import keras
import tensorflow as tf

from zoo import checks
from zoo.autoregressive.base import AutoregressiveModel, PerChannelHead
from zoo.layers.autoregressive import MaskedConv2D, ShiftedConv2D, down_shift
from zoo.registry import register


def gate(x):
    """tanh(a) * sigmoid(b) for x = [a, b] ([1], eq. 2)."""
    a, b = tf.split(x, 2, axis=-1)
    return tf.tanh(a) * tf.sigmoid(b)


@register("gated_pixelcnn")
class GatedPixelCNN(PerChannelHead, AutoregressiveModel):
    """Gated PixelCNN ([1], section 2.1-2.3, fig. 2).

    The vertical stack convolves a (k//2 + 1) x k window of the rows above
    and the current row; shifted down one row it feeds the horizontal stack,
    whose 1 x k mask-A/B convolution sees the current row to the left. The
    two stacks together see every earlier pixel in the receptive field
    (no blind spot). Each layer is a gated unit tanh(W_f * x + V_f h) *
    sigmoid(W_g * x + V_g h) with h a learned class embedding when
    `num_classes` is set ([1], eq. 4), and the horizontal stack is residual.

    Args:
      image_shape: (H, W, C).
      num_levels: 2 (Bernoulli) or grey levels per channel.
      filters: channels F of each stack (a multiple of C).
      num_layers: gated layers.
      kernel_size: odd k.
      num_classes: None (unconditional) or the number of classes.
      seed: unused randomness seed kept for the shared interface.

    References:
      [1] van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves, Kavukcuoglu.
          Conditional Image Generation with PixelCNN Decoders. NeurIPS 2016.
    """

    def __init__(self, image_shape=(28, 28, 1), num_levels=2, filters=64,
                 num_layers=5, kernel_size=3, num_classes=None, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, num_levels=num_levels,
                         num_classes=num_classes, seed=seed, **kwargs)
        self.kernel_size = checks.odd_int("kernel_size", kernel_size)
        self.num_layers = checks.positive_int("num_layers", num_layers)
        c = self.image_shape[-1]
        self.filters = checks.multiple_of("filters", filters, c, "channels")
        f, k = self.filters, self.kernel_size
        self.vertical = [ShiftedConv2D(2 * f, (k // 2 + 1, k), "down", name=f"v{i}")
                         for i in range(self.num_layers)]
        self.horizontal = [MaskedConv2D(2 * f, (1, k), "A" if i == 0 else "B", c,
                                        name=f"h{i}") for i in range(self.num_layers)]
        self.links = [keras.layers.Dense(2 * f, name=f"link{i}")
                      for i in range(self.num_layers)]
        self.residuals = [MaskedConv2D(f, 1, "B", c, name=f"res{i}")
                          for i in range(self.num_layers)]
        if self.conditional:
            self.v_embed = [keras.layers.Embedding(self.num_classes, 2 * f, name=f"v_emb{i}")
                            for i in range(self.num_layers)]
            self.h_embed = [keras.layers.Embedding(self.num_classes, 2 * f, name=f"h_emb{i}")
                            for i in range(self.num_layers)]
        self.head_hidden = MaskedConv2D(f, 1, "B", c, name="head_hidden")
        self.head_out = MaskedConv2D(self.output_channels, 1, "B", c, name="head_out")
        self._finish_build()

    def _network(self, x, labels=None, training=False):
        v, h = x, x
        for i in range(self.num_layers):
            v_pre = self.vertical[i](v)
            if self.conditional:
                v_pre = v_pre + self.v_embed[i](labels)[:, None, None]
            h_pre = self.horizontal[i](h) + self.links[i](down_shift(v_pre))
            if self.conditional:
                h_pre = h_pre + self.h_embed[i](labels)[:, None, None]
            v = gate(v_pre)
            h_out = self.residuals[i](gate(h_pre))
            # The first layer's input has C channels, so no residual there.
            h = h_out if i == 0 else h + h_out
        return self.head_out(tf.nn.relu(self.head_hidden(tf.nn.relu(h))))

    # ----------------------------------------------------- cached sampler
    def _complete_cached(self, levels, known_rows, noise, labels=None):
        if labels is None:
            return self._cached_loop(levels, known_rows, noise)
        return self._cached_loop(levels, known_rows, noise, labels)

    def _vertical_row(self, i, window, labels):
        """v_pre of layer i for the last row of `window` [N, k//2 + 1, W, ch]."""
        v_pre = self.vertical[i](window)[:, -1]
        if self.conditional:
            v_pre = v_pre + self.v_embed[i](labels)[:, None]
        return v_pre

    @tf.function(reduce_retracing=True)
    def _cached_loop(self, levels, known_rows, noise, labels=None):
        """Row-cached sampling ([2] of pixelcnn.py): the vertical stack runs
        once per finished row on a (k//2 + 1)-row window per layer, the
        horizontal stack once per new dimension on a 1 x k window."""
        h, w, c = self.image_shape
        canvas, row_known, first = self._start(levels, known_rows)
        first_row = first // (w * c)
        p, k = self.kernel_size // 2, self.kernel_size
        x = self.levels_to_input(canvas)

        # v_i rows r - 1 - p .. r - 1 (zeros above the image) for the first row.
        windows, v = [], x
        for i in range(self.num_layers):
            top = tf.pad(v, [[0, 0], [p + 1, 0], [0, 0], [0, 0]])
            windows.append(top[:, first_row:first_row + p + 1])
            v = gate(self.vertical[i](v) + (self.v_embed[i](labels)[:, None, None]
                                              if self.conditional else 0.0))
        # The row above the image feeds zeros through the link (down_shift).
        above = tf.cast(first_row > 0, self.compute_dtype)
        links = [self.links[i](above * self._vertical_row(i, windows[i], labels))
                 for i in range(self.num_layers)]

        def roll(window, row):
            return tf.concat([window[:, 1:], row[:, None]], 1)

        def finish_row(r, canvas, windows):
            new_windows, links = [], []
            row = self.levels_to_input(canvas[:, r])
            for i in range(self.num_layers):
                window = roll(windows[i], row)
                v_pre = self._vertical_row(i, window, labels)
                links.append(self.links[i](v_pre))
                new_windows.append(window)
                row = gate(v_pre)
            return new_windows, links

        def put(buf, col, value):
            return tf.tensor_scatter_nd_update(buf, [[col + p]], tf.cast(value, buf.dtype)[None])

        def pixel_step(r, links, step, canvas, bufs):
            col, channel = step // c, step % c
            new_bufs = [bufs[0]]
            act = None
            for i in range(self.num_layers):
                if i > 0:
                    new_bufs.append(put(bufs[i], col, act))
                h_pre = self.horizontal[i].call_at(
                    tf.slice(new_bufs[i], [col, 0, 0], [k, -1, -1])[None])
                h_pre = h_pre + links[i][:, col]
                if self.conditional:
                    h_pre = h_pre + self.h_embed[i](labels)
                out = self.residuals[i].call_at(gate(h_pre)[None, None])
                act = out if i == 0 else act + out
            hidden = self.head_hidden.call_at(tf.nn.relu(act)[None, None])
            params = self.head_out.call_at(tf.nn.relu(hidden)[None, None])
            value = self._sample_channel(params, canvas[:, r, col], noise[:, r, col], channel)
            canvas = self._write(canvas, (r * w + col) * c + channel, value, row_known, r)
            new_bufs[0] = put(bufs[0], col, self.levels_to_input(canvas[:, r, col]))
            return step + 1, canvas, new_bufs

        n = tf.shape(canvas)[0]
        widths = [c] + [self.filters] * (self.num_layers - 1)

        def row_step(r, canvas, windows, links):
            bufs = [tf.zeros([w + 2 * p, n, ch], self.compute_dtype) for ch in widths]
            _, canvas, _ = tf.while_loop(
                lambda step, *_: step < w * c,
                lambda *args: pixel_step(r, links, *args), (0, canvas, bufs))
            windows, links = finish_row(r, canvas, windows)
            return r + 1, canvas, windows, links

        _, canvas, _, _ = tf.while_loop(lambda r, *_: r < h, row_step,
                                        (first_row, canvas, windows, links))
        return canvas
