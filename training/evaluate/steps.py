"""The metric steps of `python -m training.evaluate`, one registered function each.

Registration order is `METRICS` order and run order. The arithmetic lives in
`training.metrics` (pure NumPy); a step picks its inputs from the `Context`
and records values, details and not-applicable reasons. References: see
`training.metrics`.
"""

import math

import numpy as np

from training import metrics as M
from training.evaluate.figures import draw_histograms, save_grid
from training.evaluate.registry import metric


def _flat(x):
    return x.reshape(len(x), -1).astype(np.float64)


def _labels_missing(ctx):
    if ctx.real_labels is None or ctx.train[1] is None:
        return f"dataset {ctx.dataset!r} has no labels"
    return None


@metric("likelihood")
def likelihood(ctx):
    """ELBO / IWAE / exact log-likelihood of the split (`training.likelihood`)."""
    from training import datasets
    from training.likelihood import evaluate

    target = ctx.target
    ds = datasets.load(ctx.dataset, ctx.split, batch_size=256, mode=target.eval_mode,
                       labels=target.labels_for_likelihood, shuffle=False, seed=0,
                       data_dir=ctx.options["data_dir"])
    ctx.log("likelihood ...")
    ev = ctx.timed("likelihood", lambda: evaluate(
        target.likelihood_model, ds, iwae_samples=ctx.options["iwae_samples"], seed=ctx.seed))
    ctx.values.update({k: v for k, v in ev.items() if k != "num_examples"})
    if not any(k in ev for k in ("test_elbo_nats", "test_log_likelihood_nats")):
        where = " signature" if target.kind == "export" else ""
        ctx.not_applicable["likelihood"] = (
            f"the target has no ELBO, importance-weighted or exact log-likelihood{where}; "
            "see parzen for a sample-based estimate")
    elif target.kind == "export" and "test_log_likelihood_nats" not in ev \
            and "elbo" in target.endpoints:
        ctx.not_applicable["iwae"] = ("the export has no importance-weighted log_prob "
                                      "signature; only the ELBO is computed (evaluate the "
                                      "run directory for IWAE)")


def _parzen_too_few(ctx):
    if len(ctx.real) < 2:
        return f"the {ctx.split} split has fewer than 2 images to hold out and score"
    return None


@metric("parzen", needs=("samples",), applies=_parzen_too_few)
def parzen(ctx):
    """Parzen-window log-density of held-out images under the samples.

    As in Goodfellow et al. 2014, the bandwidth is chosen on images the
    model never trained on and that are not scored: the last
    `parzen_validation` images of the split (at most half of it).
    """
    real = _flat(ctx.real)
    n_val = min(ctx.options["parzen_validation"], len(real) // 2)
    validation, scored = real[-n_val:], real[:-n_val]
    samples = _flat(ctx.samples)
    ctx.log("parzen ...")

    def run():
        sigma, scores = M.select_parzen_bandwidth(validation, samples)
        return sigma, scores, M.parzen_log_likelihood(scored, samples, sigma)

    sigma, scores, ll = ctx.timed("parzen", run)
    ctx.values["parzen_log_likelihood_nats"] = float(ll.mean())
    ctx.values["parzen_log_likelihood_stderr"] = float(ll.std() / math.sqrt(len(ll)))
    ctx.values["parzen_sigma"] = sigma
    ctx.details["parzen_validation_scores"] = scores
    ctx.details["parzen_validation_images"] = n_val
    ctx.details["parzen_scored_images"] = len(scored)
    trained = ("but trained on: evaluate the test split" if ctx.split == "train"
               else "never trained on")
    ctx.details["parzen_bandwidth_data"] = (
        f"held-out part of the {ctx.split} split: its last {n_val} images choose the "
        f"bandwidth, its first {len(scored)} are scored (disjoint, {trained})")


@metric("fid", needs=("features",))
def fid(ctx):
    """Frechet distance between real and sample features, per extractor."""
    for name, ((real_f, _), (fake_f, _)) in ctx.features.items():
        ctx.values[f"fid_{name}"] = ctx.timed(
            f"fid_{name}", lambda: M.frechet_distance(real_f, fake_f))


@metric("kid", needs=("features",))
def kid(ctx):
    """Kernel inception distance (mean and std over subsets), per extractor."""
    for name, ((real_f, _), (fake_f, _)) in ctx.features.items():
        m, s = ctx.timed(f"kid_{name}", lambda: M.kernel_inception_distance(
            real_f, fake_f, subset_size=1000, num_subsets=100, seed=ctx.seed))
        ctx.values[f"kid_{name}"], ctx.values[f"kid_{name}_std"] = m, s


@metric("inception_score", needs=("features",))
def inception_score(ctx):
    """Inception score of the samples and, as its ceiling, of the real images."""
    for name, ((_, real_p), (_, fake_p)) in ctx.features.items():
        if fake_p is None:
            ctx.not_applicable[f"inception_score_{name}"] = ("the extractor has no "
                                                             "classification head")
            continue
        m, s = ctx.timed(f"inception_score_{name}", lambda: M.inception_score(fake_p, 10))
        ctx.values[f"inception_score_{name}"], ctx.values[f"inception_score_{name}_std"] = m, s
        ctx.values[f"inception_score_{name}_real"] = M.inception_score(real_p, 10)[0]


@metric("precision_recall", needs=("features",))
def precision_recall(ctx):
    """Improved precision and recall (k = 3) on equal-size feature sets."""
    for name, ((real_f, _), (fake_f, _)) in ctx.features.items():
        # k-NN radii shrink as a set grows, so both sets get the same size
        # (as in [Kynkaanniemi et al. 2019]); otherwise recall is biased
        # down when there are more samples than real images.
        n_pr = min(len(real_f), len(fake_f))
        p, r = ctx.timed(f"precision_recall_{name}",
                         lambda: M.precision_recall(real_f[:n_pr], fake_f[:n_pr], k=3))
        ctx.values[f"precision_{name}"], ctx.values[f"recall_{name}"] = p, r
        ctx.details["precision_recall_points_per_set"] = n_pr


@metric("memorization", needs=("samples",))
def memorization(ctx):
    """Pixel-space nearest training images: sample->train vs test->train distances."""
    train_x = ctx.train[0]
    ctx.log("nearest neighbours ...")

    def nn():
        s_d, s_i = M.nearest_neighbors(_flat(ctx.samples), _flat(train_x), k=4)
        t_d, _ = M.nearest_neighbors(_flat(ctx.real), _flat(train_x), k=1)
        return s_d, s_i, t_d[:, 0]

    s_d, s_i, t_d = ctx.timed("memorization", nn)
    values = ctx.values
    values["nn_sample_to_train_median"] = float(np.median(s_d[:, 0]))
    values["nn_test_to_train_median"] = float(np.median(t_d))
    values["nn_distance_ratio"] = values["nn_sample_to_train_median"] / max(
        values["nn_test_to_train_median"], 1e-12)
    values["nn_samples_below_test_p1"] = float(np.mean(s_d[:, 0] < np.percentile(t_d, 1)))
    closest = np.argsort(s_d[:, 0])[:8]
    rows = [np.concatenate([ctx.samples[i:i + 1], train_x[s_i[i]]]) for i in closest]
    ctx.figure("nearest_neighbours", lambda path: save_grid(path, np.concatenate(rows), 5))
    ctx.figure("nn_distances", lambda path: draw_histograms(
        path, {"sample -> train": s_d[:, 0], "test -> train": t_d}))


def _probe_applies(ctx):
    if not ctx.target.can_encode:
        return "the target has no encoder (no encode signature taking images)"
    return _labels_missing(ctx)


@metric("linear_probe", applies=_probe_applies)
def linear_probe(ctx):
    """Logistic-regression accuracy on encoder features (train -> split)."""
    train_x, train_y = ctx.train
    n_tr = min(ctx.options["probe_train"], len(train_x))
    ctx.log("linear probe ...")
    encode = ctx.target.encode
    ctx.values["linear_probe_accuracy"] = ctx.timed("linear_probe", lambda: (
        M.linear_probe_accuracy(encode(train_x[:n_tr]), train_y[:n_tr],
                                encode(ctx.real), ctx.real_labels, seed=ctx.seed)))
    ctx.details["linear_probe_train_images"] = n_tr


@metric("knn_accuracy", applies=_probe_applies)
def knn_accuracy(ctx):
    """k-NN (k = 1, 5) vote accuracy on encoder features (train -> split)."""
    train_x, train_y = ctx.train
    n_tr = min(ctx.options["probe_train"], len(train_x))
    encode = ctx.target.encode
    train_f, test_f = encode(train_x[:n_tr]), encode(ctx.real)
    for k in (1, 5):
        ctx.values[f"knn_accuracy_{k}"] = M.knn_accuracy(train_f, train_y[:n_tr], test_f,
                                                         ctx.real_labels, k=k)
    ctx.details["knn_train_images"] = n_tr


@metric("recall_at_k", applies=_probe_applies)
def recall_at_k(ctx):
    """Recall@1 and @5 of retrieval among the split's encoder features."""
    features = ctx.target.encode(ctx.real)
    for k in (1, 5):
        ctx.values[f"recall_at_{k}"] = M.recall_at_k(features, ctx.real_labels, k=k)


def _classify_applies(ctx):
    if ctx.target.inputs.get("classify") != ["images"]:
        return "the target has no classify signature taking images"
    if ctx.real_labels is None:
        return f"dataset {ctx.dataset!r} has no labels"
    return None


@metric("classification", applies=_classify_applies)
def classification(ctx):
    """Test error of the model's own classifier (its `classify` signature)."""
    import tensorflow as tf

    classify = ctx.target.endpoints["classify"]
    predicted = np.concatenate([
        np.asarray(classify(images=tf.constant(ctx.real[i:i + 500]))["label"])
        for i in range(0, len(ctx.real), 500)])
    ctx.values["classification_error"] = float(np.mean(predicted != ctx.real_labels))


def _translation_applies(ctx):
    if ctx.sources is None:
        return "the target does not translate images (no translate signature)"
    return None


@metric("translation", applies=_translation_applies)
def translation(ctx):
    """PSNR, SSIM and L1 against paired targets (and bicubic upsampling's),
    and the cycle-consistency error where there is a way back."""
    from zoo.translation import quality

    ctx.draw_samples()
    out, n = ctx.samples, len(ctx.samples)
    if ctx.paired:
        targets = ctx.real[:n]
        for key, fn in (("psnr", quality.psnr), ("ssim", quality.ssim), ("l1", quality.l1)):
            ctx.values[f"translation_{key}"] = float(np.mean(fn(out, targets)))
        if ctx.sources.shape[1:3] != targets.shape[1:3] and \
                ctx.sources.shape[-1] == targets.shape[-1]:
            up = quality.bicubic(ctx.sources[:n], targets.shape[1:3])
            ctx.values["bicubic_psnr"] = float(np.mean(quality.psnr(up, targets)))
            ctx.values["bicubic_ssim"] = float(np.mean(quality.ssim(up, targets)))
    if "translate_back" in ctx.target.endpoints:
        back = ctx.target.translate(out, endpoint="translate_back")
        ctx.values["cycle_error"] = float(np.mean(np.abs(back - ctx.sources[:n])))


def _conditional_applies(ctx):
    return None if ctx.target.conditional else "the model is not class-conditional"


@metric("conditional_accuracy", needs=("features",), extractors=("classifier",),
        applies=_conditional_applies)
def conditional_accuracy(ctx):
    """Classifier accuracy on samples of each requested label."""
    if "classifier" not in ctx.features:
        return
    pred = ctx.features["classifier"][1][1].argmax(1)
    labels = ctx.sample_labels
    ctx.values["conditional_accuracy_classifier"] = float(np.mean(pred == labels))
    ctx.details["conditional_accuracy_per_class"] = [
        float(np.mean(pred[labels == c] == c)) for c in range(ctx.target.num_classes)]
