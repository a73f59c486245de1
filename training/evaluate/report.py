"""report.md of one evaluation, rendered from its metrics.json dict."""

import numpy as np

_DESCRIPTIONS = {
    "test_elbo_nats": "ELBO per image (nats, higher is better)",
    "test_elbo_bits_per_dim": "negative ELBO in bits/dim (lower is better)",
    "test_log_likelihood_nats": "log p(x) per image (nats; exact or IWAE, see estimator)",
    "test_nll_bits_per_dim": "negative log-likelihood in bits/dim (lower is better)",
    "test_reconstruction_mse": "reconstruction mean squared error per pixel",
    "likelihood_kind": "bernoulli, discrete (grey levels) or density (continuous)",
    "evaluation_data": "the data the likelihoods are of; bits/dim compare only on the same",
    "parzen_log_likelihood_nats": "Parzen-window log-density per image (nats, continuous [0,1] pixels)",
    "nn_distance_ratio": "median sample->train / median test->train L2 distance (<1 hints memorization)",
    "nn_samples_below_test_p1": "fraction of samples closer to train than 99% of test images are",
    "linear_probe_accuracy": "logistic-regression accuracy on encoder features",
    "knn_accuracy_1": "1-nearest-neighbour accuracy on encoder features (train -> split)",
    "knn_accuracy_5": "5-nearest-neighbour vote accuracy on encoder features",
    "recall_at_1": "fraction of images whose nearest other image (encoder features) shares its label",
    "recall_at_5": "... among its 5 nearest",
    "classification_error": "test error of the model's own classifier (classify signature)",
    "translation_psnr": "PSNR (dB) of translations against their paired targets",
    "translation_ssim": "SSIM of translations against their paired targets",
    "bicubic_psnr": "PSNR of bicubic upsampling of the sources (the super-resolution baseline)",
    "cycle_error": "mean |F(G(a)) - a| of translating there and back",
    "precision_classifier": "fraction of samples inside the real k-NN manifold (k=3)",
    "recall_classifier": "fraction of real images inside the samples' k-NN manifold (k=3)",
    "inception_score_classifier_real": "the same score for the real images (its ceiling)",
    "conditional_accuracy_classifier": "classifier accuracy on samples of each requested label",
}

_KIND_NOTES = {
    "bernoulli": "binary pixels, binarized once with a fixed seed (pixel on with probability "
                 "x/255, Larochelle & Murray 2011); likelihoods are of the binary data",
    "discrete": "a normalized distribution over the grey levels: the exact discrete "
                "likelihood of the quantized image",
    "density": "a continuous density, scored on uniformly dequantized images "
               "y = (x_int + u)/256 with seeded u ~ U[0, 1) and moved to the 8-bit scale "
               "(-D ln 256; Theis et al. 2016, sec. 3.1): bounds the 8-bit discrete NLL",
}

_SAMPLE_NOTES = {
    "draws from p(x|z)": "the model's decoder means are smooth averages, so the sample "
                         "metrics use draws x ~ p(x|z) from the same z instead",
    "decoder means": "decoder means E[x|z], not draws: smoother than data, which flatters "
                     "FID-like metrics and Parzen windows",
    "model samples": "",
}

_FIGURE_TITLES = {
    "samples": "Samples",
    "nearest_neighbours": "The 8 samples closest to the training set (left) and their 4 "
                          "nearest training images (pixel L2)",
    "nn_distances": "Nearest-training-image distances: samples vs test images",
}

_CAVEATS = [
    "FID/KID/IS/precision/recall depend on the extractor; values from different "
    "extractors or sample counts are not comparable. The classifier extractor is the usual "
    "choice for MNIST-like data, not the Inception network of the papers.",
    "Bits/dim are comparable only between evaluations of the same data (the likelihood "
    "line above); `--compare` puts each kind of data in its own column.",
    "Parzen-window estimates (Goodfellow et al. 2014) are known to be poor (Theis et al. "
    "2016): in high dimensions they need far more samples than are drawn, can rank models "
    "opposite to their true log-likelihood, and a model that copies training images can "
    "score well. The bandwidth is chosen on held-out images of the evaluated split, "
    "disjoint from the scored ones and never trained on; report it only beside proper "
    "likelihoods.",
    "The nearest-neighbour check uses pixel L2 distance, which notices copies but not "
    "semantic memorization.",
]


def fmt(value):
    """A metric value as a table cell."""
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


def json_default(value):
    """JSON encoding of NumPy scalars (and anything else as its string)."""
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return str(value)


def _header(result):
    values = result["metrics"]
    lines = [f"# Evaluation of `{result['model']}`", "",
             f"- target: `{result['target']}` ({result['target_kind']})",
             f"- dataset: `{result['dataset']}`, split `{result['split']}`",
             f"- generated samples: {result['num_samples']} (seed rows [{result['seed']}, i])"]
    source = result.get("samples")
    if source:
        note = _SAMPLE_NOTES.get(source)
        lines.append(f"- samples: {source}" + (f" ({note})" if note else ""))
    for name, desc in result["extractors"].items():
        lines.append(f"- extractor `{name}`: {desc}")
    if "likelihood_kind" in values:
        kind = values["likelihood_kind"]
        lines.append(f"- likelihood: {kind} over {values.get('num_levels')} levels, data "
                     f"`{values.get('evaluation_data')}`: {_KIND_NOTES.get(kind, '')}")
    elif "evaluation_data" in values:
        lines.append(f"- likelihood data: `{values['evaluation_data']}`")
    parzen = result["details"].get("parzen_bandwidth_data")
    if parzen:
        lines.append(f"- Parzen bandwidth: {parzen}")
    return lines


def render_report(result):
    """report.md for one evaluation (the dict `evaluate_target` returns)."""
    lines = _header(result)
    lines += ["", "## Metrics", "", "| metric | value | meaning |", "|---|---:|---|"]
    for key, value in result["metrics"].items():
        lines.append(f"| {key} | {fmt(value)} | {_DESCRIPTIONS.get(key, '')} |")
    if result["not_applicable"]:
        lines += ["", "## Not applicable", ""]
        lines += [f"- `{k}`: {v}" for k, v in result["not_applicable"].items()]
    if result["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in result["warnings"]]
    lines += ["", "## Time (seconds)", "", "| step | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in result["seconds"].items()]
    figures = result.get("figures", {})
    if figures:
        lines += ["", "## Figures", ""]
        for key, file in figures.items():
            lines += [f"{_FIGURE_TITLES.get(key, key)}:", "", f"![{key}]({file})", ""]
    lines += ["", "## Caveats", ""] + [f"- {c}" for c in _CAVEATS] + [""]
    return "\n".join(lines)
