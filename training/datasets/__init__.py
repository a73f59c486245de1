"""Image datasets for the model zoo: one spec string -> a batched tf.data pipeline.

Spec grammar
------------
``digits``
    The 8x8 handwritten digits bundled with scikit-learn (1797 images, labels
    0..9, pixel values 0..16 rescaled to uint8 by ``round(v * 255 / 16)``).
    Needs no network, so it is the default for tests and quick experiments.
``npz:PATH``
    A NumPy ``.npz`` archive with an array ``x`` of shape [N,H,W] or
    [N,H,W,C] (C in {1, 3}; uint8, or floating point in [0, 1] which is
    scaled by 255) and an optional integer array ``y`` of N labels.
``dir:PATH``
    A folder of png/jpg/jpeg/bmp/gif images, either flat (no labels) or with
    one sub-folder per class (class index = position of the sub-folder name
    in sorted order, counting only sub-folders that contain images). Files
    with other extensions are ignored. Greyscale files give C=1 and colour
    files C=3; a folder mixing both is loaded entirely as RGB (grey is
    replicated, which loses nothing). Alpha channels are dropped, 16-bit
    greyscale is rescaled to 8 bits. All images must share one size unless
    ``image_size`` is given.
``toy:NAME[:N[:SEED]]``
    2-D points (``two_moons``, ``8gaussians``, ``checkerboard``, ``rings``;
    N = 10000 and SEED = 0 by default) in the unit square, stored as 8-bit
    1x1 images with 2 channels, labelled by mixture component where there
    is one (see :mod:`training.datasets.toy`).
``NAME`` or ``tfds:NAME``
    Any tensorflow-datasets image dataset (``mnist``, ``fashion_mnist``,
    ``binarized_mnist``, ``cifar10``, ``celeb_a``, ...), optionally with a
    config/version as tfds accepts it (``tfds:celeb_a:2.1.0``). Images are
    streamed from the tfds files, never held in memory by :func:`load`. The
    image is the feature "image" (else the first Image feature); labels come
    from a ClassLabel feature named "label", if any. Datasets listed in
    ``ZERO_ONE_TFDS`` (``binarized_mnist``) store pixels as {0, 1}; for
    them every non-zero pixel becomes 255 so all sources share one range.

``digits``, ``npz:`` and ``dir:`` (and ``toy:``) have no predefined split: a deterministic
train/test split is drawn from ``np.random.default_rng(seed)`` with
``test_fraction`` of the examples in "test". tfds datasets use their own
"train" and "test" splits ("validation" when the builder has no "test").
Every source also accepts the split "all". Within a split, examples keep
their source order (``take=n`` means the first n); ``image_size=(H, W)``
resizes bilinearly (antialiased) for every source.

Preprocessing modes (``mode=``)
-------------------------------
``unit``            float32 in [0, 1]  (x / 255)
``symmetric``       float32 in [-1, 1] (x / 127.5 - 1)
``binary_static``   float32 in {0, 1}: pixel on with probability x / 255,
                    drawn once per example (identical in every epoch and
                    every call), the fixed stochastic binarization of
                    Larochelle & Murray (2011).
``binary_dynamic``  float32 in {0, 1}, redrawn every epoch (Salakhutdinov &
                    Murray, 2008); reproducible given ``seed``.
``levels``          int32 in [0, num_levels - 1]: round(x / 255 * (L - 1)) with
                    L = num_levels, by :func:`zoo.distributions.quantize`, the
                    rule the autoregressive models quantize ``unit`` images
                    with, so both agree on every image.

Modules
-------
``spec``          spec parsing, argument checks, :class:`DatasetError`,
                  :class:`DatasetInfo`
``memory``        digits and ``npz:`` sources, the deterministic train/test split
``folder``        the ``dir:`` source (image folders)
``toy``           the ``toy:`` source (2-D densities)
``tfds_source``   the tensorflow-datasets source
``pipeline``      the tf.data tail and the preprocessing modes
``api``           :func:`info`, :func:`load_arrays`, :func:`load`
``few_labels``    :func:`load_partially_labelled` (``--labels N``: label -1 = unlabelled)
``pairs``         image-to-image specs (``pairs:``, ``sidebyside:``, ``unpaired:``, ``task:``): :func:`load_pairs`

Every bad input raises :class:`DatasetError` (a ``ValueError``) whose message
names the offending spec/path/shape and what would have been accepted.

References
----------
- R. Salakhutdinov and I. Murray. On the quantitative analysis of deep belief
  networks. ICML 2008.
- H. Larochelle and I. Murray. The neural autoregressive distribution
  estimator. AISTATS 2011.
"""

from training.datasets.api import info, load, load_arrays
from training.datasets.few_labels import label_subset, load_partially_labelled
from training.datasets.pairs import PairInfo, is_pair_spec, load_pair_arrays, load_pairs, pair_info
from training.datasets.folder import IMAGE_EXTENSIONS
from training.datasets.spec import BUILTIN_KINDS, MODES, SPLITS, DatasetError, DatasetInfo
from training.datasets.tfds_source import ZERO_ONE_TFDS

__all__ = ["BUILTIN_KINDS", "DatasetError", "DatasetInfo", "IMAGE_EXTENSIONS", "MODES",
           "SPLITS", "ZERO_ONE_TFDS", "info", "label_subset", "load", "load_arrays",
           "load_partially_labelled", "PairInfo", "is_pair_spec", "load_pair_arrays",
           "load_pairs", "pair_info"]
