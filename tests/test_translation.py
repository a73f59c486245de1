"""Image-to-image translation (issue #17): pair specs and derived tasks, the
U-Net, the PatchGAN's receptive field, the history buffer, PSNR/SSIM,
sub-pixel upsampling, and super-resolution against bicubic."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests import contract
from training import datasets
from training import train as train_cli
from training.datasets import DatasetError
from zoo.layers.history import ImageHistory
from zoo.layers.subpixel import SubPixelUpsample, pixel_shuffle
from zoo.translation import networks, quality

TINY_CONFIGS = {
    "pix2pix": {"filters": (8, 16)},
    "cyclegan": {"filters": 8, "blocks": 1, "discriminator_filters": (8,), "history_size": 4},
    "srresnet": {"filters": 8, "blocks": 1},
    "srgan": {"filters": 8, "blocks": 1, "discriminator_filters": (8,)},
    "stargan": {"filters": 8, "blocks": 1, "discriminator_filters": (8, 16), "n_critic": 2},
}


# ------------------------------------------------------------------- data
def _png(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8).squeeze()).save(path)


def _pair_folder(root, n=10, size=(6, 6), rng=None):
    rng = rng or np.random.default_rng(0)
    for i in range(n):
        image = rng.integers(0, 256, size, np.uint8)
        _png(os.path.join(root, "A", f"{i:02d}.png"), image)
        _png(os.path.join(root, "B", f"{i:02d}.png"), 255 - image)
    return root


def test_pairs_keep_partners_together_and_split_80_20(tmp_path):
    spec = f"pairs:{_pair_folder(str(tmp_path / 'p'))}"
    info = datasets.pair_info(spec)
    assert info.paired and info.source_shape == info.target_shape == (6, 6, 1)
    assert info.num_examples == {"train": 8, "test": 2}
    for source, target in datasets.load_pairs(spec, batch_size=3, seed=1):
        np.testing.assert_allclose(target, 1.0 - source, atol=1e-6)  # partners
    a, b, paired = datasets.load_pair_arrays(spec, "test")
    assert paired and len(a) == len(b) == 2


def test_side_by_side_and_unpaired_folders(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(5):
        left = rng.integers(0, 256, (4, 4), np.uint8)
        _png(str(tmp_path / "sbs" / f"{i}.png"), np.concatenate([left, left // 2], 1))
    a, b, paired = datasets.load_pair_arrays(f"sidebyside:{tmp_path / 'sbs'}", "all")
    assert paired and a.shape == b.shape == (5, 4, 4, 1)
    np.testing.assert_array_equal(b, a // 2)
    for i in range(3):
        _png(str(tmp_path / "u" / "a" / f"{i}.png"), rng.integers(0, 256, (4, 4)))
    for i in range(7):
        _png(str(tmp_path / "u" / "b" / f"{i}.png"), rng.integers(0, 256, (4, 4)))
    spec = f"unpaired:{tmp_path / 'u' / 'a'},{tmp_path / 'u' / 'b'}"
    a, b, paired = datasets.load_pair_arrays(spec, "all")
    assert not paired and (len(a), len(b)) == (3, 7)
    rows = sum(len(x) for x, _ in datasets.load_pairs(spec, "train", batch_size=2))
    assert rows == 6  # one pass over the larger side's 6 training images
    # Two datasets as the two domains.
    a, b, paired = datasets.load_pair_arrays(f"unpaired:digits,{tmp_path / 'u' / 'b'}", "train")
    assert not paired and a.shape[1:] == (8, 8, 1) and len(b) == 6


def test_bad_pair_folders_name_the_file(tmp_path):
    root = _pair_folder(str(tmp_path / "p"), n=3)
    os.remove(os.path.join(root, "B", "01.png"))
    with pytest.raises(DatasetError, match=r"01.png' has no partner"):
        datasets.pair_info(f"pairs:{root}")
    root = _pair_folder(str(tmp_path / "q"), n=3)
    _png(os.path.join(root, "A", "02.png"), np.zeros((5, 6), np.uint8))
    with pytest.raises(DatasetError, match=r"02.png' is 5x6x1 but"):
        datasets.pair_info(f"pairs:{root}")
    _png(str(tmp_path / "odd" / "x.png"), np.zeros((4, 7), np.uint8))
    with pytest.raises(DatasetError, match="x.png' is 7 pixels wide"):
        datasets.pair_info(f"sidebyside:{tmp_path / 'odd'}")
    for spec, words in [("task:colorize(digits)", "needs colour images"),
                        ("task:superres(digits,factor=3)", "factor must be 2 or 4"),
                        ("task:classes(digits,0-4)", "two label ranges"),
                        ("task:blur(digits)", "unknown task spec"),
                        (f"pairs:{tmp_path / 'none'}", "pairs: spec needs"),
                        ("unpaired:onlyone", "two folders")]:
        with pytest.raises(DatasetError, match=words):
            datasets.pair_info(spec)


def test_derived_tasks_from_the_digits():
    x, _ = datasets.load_arrays("digits", "test")
    a, b, _ = datasets.load_pair_arrays("task:superres(digits,factor=2)", "test")
    assert a.shape[1:] == (4, 4, 1) and np.array_equal(b, x)
    a, b, _ = datasets.load_pair_arrays("task:inpaint(digits)", "test")
    assert np.all(a[:, 2:6, 2:6] == 0) and np.array_equal(a[:, :2], x[:, :2])
    a, b, _ = datasets.load_pair_arrays("task:edges(digits)", "test")
    assert a.max() == 255 and np.all(a[:, :, :, 0].std(axis=(1, 2)) > 0)
    a, b, paired = datasets.load_pair_arrays("task:classes(digits,0-4,5-9)", "train")
    _, labels = datasets.load_arrays("digits", "train")
    assert not paired and len(a) == np.sum(labels <= 4) and len(b) == np.sum(labels >= 5)


def test_jitter_flips_and_crops_both_sides_alike(tmp_path):
    root = str(tmp_path / "same")
    rng = np.random.default_rng(2)
    for i in range(6):
        image = rng.integers(0, 256, (8, 8), np.uint8)
        _png(os.path.join(root, "A", f"{i}.png"), image)
        _png(os.path.join(root, "B", f"{i}.png"), image)
    plain = list(datasets.load_pairs(f"pairs:{root}", batch_size=4, shuffle=False))
    jittered = list(datasets.load_pairs(f"pairs:{root}", batch_size=4, shuffle=False,
                                        jitter=True, seed=3))
    for (a, b), (pa, _) in zip(jittered, plain):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, pa) for (a, _), (pa, _) in zip(jittered, plain))
    again = list(datasets.load_pairs(f"pairs:{root}", batch_size=4, shuffle=False,
                                     jitter=True, seed=3))
    np.testing.assert_array_equal(again[0][0], jittered[0][0])


def test_tfds_translation_builders_through_the_same_loader():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=4):
        a, b, paired = datasets.load_pair_arrays("cycle_gan/horse2zebra", "train",
                                                 image_size=(16, 16))
        assert not paired and a.shape[1:] == b.shape[1:] == (16, 16, 3)
        source, target = next(iter(datasets.load_pairs(
            "cycle_gan/horse2zebra", batch_size=2, image_size=(16, 16))))
        assert source.shape == target.shape == (2, 16, 16, 3)
        lr, hr, paired = datasets.load_pair_arrays("div2k/bicubic_x2", "train",
                                                   image_size=(8, 8))
        assert paired and lr.shape == (4, 4, 4, 3) and hr.shape == (4, 8, 8, 3)


# ---------------------------------------------------------------- networks
@pytest.mark.parametrize("shape", [(8, 8, 1), (7, 7, 1), (28, 28, 1), (9, 12, 3)])
def test_unet_skips_fit_odd_and_even_sizes(shape):
    model = networks.unet_generator(shape, 2, (8, 16, 32))
    for layer in model.layers:
        if isinstance(layer, keras.layers.Concatenate):
            up, skip = (tuple(t.shape[1:3]) for t in layer.input)
            assert up == skip, (shape, up, skip)
    out = model(tf.zeros((2,) + shape))
    assert out.shape == (2,) + shape[:2] + (2,)


@pytest.mark.parametrize("layers", [1, 2])
def test_patchgan_grid_and_receptive_field_match_the_formula(layers):
    assert networks.patch_receptive_field(3) == 70  # the paper's 70x70 PatchGAN
    size = 48
    model = networks.patch_discriminator((size, size, 1), (4,) * layers)
    x = tf.random.stateless_normal((1, size, size, 1), [0, 1])
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = model(x, training=False)
        grid = out.shape[1]
        centre = out[0, grid // 2, grid // 2, 0]
    assert out.shape[1:] == (-(-size // 2 ** layers),) * 2 + (1,)
    rows = np.nonzero(np.abs(tape.gradient(centre, x)[0, :, :, 0].numpy()).sum(1))[0]
    assert rows.max() - rows.min() + 1 == networks.patch_receptive_field(layers)


def test_sub_pixel_upsampling_is_depth_to_space():
    x = tf.random.stateless_normal((2, 3, 5, 12), [1, 2])
    np.testing.assert_array_equal(pixel_shuffle(x, 2), tf.nn.depth_to_space(x, 2))
    layer = SubPixelUpsample(3, 2)
    out = layer(x)
    np.testing.assert_allclose(out, tf.nn.depth_to_space(layer.conv(x), 2), atol=1e-6)
    assert out.shape == (2, 6, 10, 3)


def test_history_returns_the_current_image_half_the_time_once_full():
    history = ImageHistory(10, (1, 1, 1))
    history.build()
    first = tf.reshape(tf.range(1.0, 11.0), (10, 1, 1, 1))
    np.testing.assert_array_equal(history.query(first, tf.constant([0, 0])), first)
    current = 0
    for step in range(300):
        images = tf.fill((5, 1, 1, 1), 100.0 + step)
        out = history.query(images, tf.constant([step, 7]))
        current += int(np.sum(out.numpy() == 100.0 + step))
    # 1500 Bernoulli(1/2) choices: 4 standard deviations is 0.052.
    assert abs(current / 1500 - 0.5) < 0.052, current / 1500
    a, b = ImageHistory(3, (1, 1, 1)), ImageHistory(3, (1, 1, 1))
    for h in (a, b):
        h.build()
        h.query(tf.zeros((3, 1, 1, 1)), tf.constant([0, 0]))
    x = tf.reshape(tf.range(1.0, 7.0), (6, 1, 1, 1))
    np.testing.assert_array_equal(a.query(x, tf.constant([5, 5])), b.query(x, tf.constant([5, 5])))


def test_psnr_and_ssim_against_known_values():
    x = tf.random.stateless_uniform((3, 8, 8, 1), [0, 3], 0.2, 0.8)
    assert np.all(np.isinf(quality.psnr(x, x))) and np.allclose(quality.ssim(x, x), 1.0)
    np.testing.assert_allclose(quality.psnr(x, x + 0.1), 20.0, rtol=1e-4)  # 20 log10(1/0.1)
    flat = tf.fill((1, 8, 8, 1), 0.5)
    c1 = 0.01 ** 2  # SSIM's luminance term alone: contrast and structure are 1
    expected = (2 * 0.5 * 0.6 + c1) / (0.5 ** 2 + 0.6 ** 2 + c1)
    # (float32 filtering leaves variances of ~1e-7 against c2 = 9e-4: rtol 1e-3)
    np.testing.assert_allclose(quality.ssim(flat, flat + 0.1), expected, rtol=1e-3)
    np.testing.assert_allclose(quality.l1(x, x + 0.1), 0.1, rtol=1e-5)


# ------------------------------------------------------------------- models
def test_cyclegan_keeps_its_history_in_saved_files(tmp_path):
    model = contract.fit_step("cyclegan")
    assert float(model.history_b.count) == 4
    model.save(tmp_path / "c.keras")
    loaded = keras.saving.load_model(tmp_path / "c.keras")
    np.testing.assert_array_equal(loaded.history_b.pool, model.history_b.pool)
    x = contract.real_images(model, 3)
    np.testing.assert_allclose(loaded.translate_back(loaded.translate(x)),
                               model.translate_back(model.translate(x)), atol=1e-6)


def test_stargan_translates_to_the_requested_domain_and_reads_labels():
    model = contract.build("stargan")
    x = contract.real_images(model, 4)
    a = model.translate(x, [0, 1, 2, 3])
    b = model.translate(x, [0, 5, 2, 3])
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[1], b[1]), "the target domain is ignored"
    with pytest.raises(Exception, match="labels"):
        model.translate(x, [0, 1, 2, 10])


@pytest.mark.slow
def test_srresnet_beats_bicubic_on_the_digits(tmp_path):
    """SRResNet (defaults) on task:superres(digits,factor=2), 8 epochs, seed 0:
    test PSNR at least 3 dB above bicubic upsampling (measured 18.7 vs 13.2)."""
    out = tmp_path / "sr"
    assert train_cli.main(["srresnet", "--dataset", "task:superres(digits,factor=2)",
                           "--epochs", "8", "--out", str(out), "--verbose", "0"]) == 0
    ev = json.load(open(out / "metrics.json"))["evaluation"]
    assert ev["test_psnr"] > ev["test_bicubic_psnr"] + 3.0, ev
    assert ev["test_ssim"] > ev["test_bicubic_ssim"]
    assert os.path.isfile(out / "samples" / "epoch_008.png")
    from export import hub

    served = hub.load(out / "export" / "srresnet")
    model = keras.saving.load_model(out / "model.keras")
    x = contract.real_images(model, 4)
    np.testing.assert_allclose(served.predict("upscale", images=x)["images"],
                               model.translate(x), atol=1e-5)
    # `zoo evaluate` scores the export's translations of the split's sources alike.
    from training.evaluate import evaluate_target, load_target

    scored = evaluate_target(load_target(str(out / "export" / "srresnet")),
                             "task:superres(digits,factor=2)", metrics=["translation"],
                             num_samples=1000, log=None)["metrics"]
    assert scored["translation_psnr"] == pytest.approx(ev["test_psnr"], abs=0.05)
    assert scored["bicubic_psnr"] == pytest.approx(ev["test_bicubic_psnr"], abs=0.05)


@pytest.mark.slow
def test_the_cli_trains_on_a_paired_and_an_unpaired_folder(tmp_path):
    root = _pair_folder(str(tmp_path / "p"), n=20, size=(8, 8))
    for model, spec in [("pix2pix", f"pairs:{root}"),
                        ("cyclegan", f"unpaired:{root}/A,{root}/B")]:
        out = tmp_path / model
        args = [model, "--dataset", spec, "--epochs", "1", "--batch-size", "8", "--out",
                str(out), "--verbose", "0"]
        for key, value in TINY_CONFIGS[model].items():
            args += ["--set", f"{key}={value}".replace(" ", "")]
        assert train_cli.main(args) == 0
        run = json.load(open(out / "run.json"))
        assert run["status"] == "complete" and os.path.isdir(out / "export" / model / "1")
    ev = json.load(open(tmp_path / "pix2pix" / "metrics.json"))["evaluation"]
    assert {"test_psnr", "test_ssim", "test_l1"} <= set(ev)
    assert "test_cycle_error" in json.load(open(tmp_path / "cyclegan" / "metrics.json"))[
        "evaluation"]


@pytest.mark.parametrize("args,words", [
    (["pix2pix"], "must be an image-to-image spec"),
    (["pix2pix", "--dataset", "task:classes(digits,0-4,5-9)"], "needs paired images"),
    (["vae", "--dataset", "task:edges(digits)"], "is an image-to-image spec"),
    (["srresnet", "--dataset", "task:edges(digits)"], "2x or 4x the sources"),
])
def test_mismatched_models_and_data_are_refused(tmp_path, capsys, args, words):
    out = tmp_path / "run"
    assert train_cli.main(args + ["--out", str(out), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and not out.exists()
