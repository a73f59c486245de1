"""The data streams a run trains and is evaluated on, chosen by the model.

Image-to-image models (`pair_data`) read pair specs (`training.datasets.
pairs`: pairs:, sidebyside:, unpaired:, task:...); models that learn from
unlabelled examples take `--labels N` (`training.datasets.few_labels`);
every other model reads a plain image spec.
"""

import zoo
from training import datasets
from training.datasets.spec import DatasetInfo
from zoo.errors import ConfigError


def describe(model_name, dataset, data_dir=None):
    """(DatasetInfo, source_shape or None) of `dataset` as `model_name` reads it."""
    cls = zoo.get_class(model_name)
    if getattr(cls, "pair_data", False):
        if not datasets.is_pair_spec(dataset):
            raise ConfigError(
                f"{model_name} translates images and trains on pairs: --dataset must be an "
                f"image-to-image spec such as {cls.example_task}, pairs:DIR, sidebyside:DIR or "
                f"unpaired:DIR_A,DIR_B (got {dataset!r})")
        pairs = datasets.pair_info(dataset, data_dir=data_dir)
        if getattr(cls, "paired", True) and not pairs.paired:
            raise ConfigError(f"{model_name} needs paired images; {dataset!r} is unpaired "
                              "(cyclegan learns from unpaired domains)")
        return (DatasetInfo(dataset, pairs.target_shape, None, pairs.num_examples),
                pairs.source_shape)
    if datasets.is_pair_spec(dataset):
        raise ConfigError(f"{dataset!r} is an image-to-image spec; {model_name} reads images "
                          "(digits, npz:, dir:, a tfds name)")
    return datasets.info(dataset, data_dir=data_dir), None


def few_label_stream(model, dataset, num_labels, batch_size, seed, data_dir):
    """(stream, composition) of `--labels N`, checked before any folder is written."""
    if not getattr(model, "learns_from_unlabelled", False):
        learners = [n for n in zoo.list_models()
                    if getattr(zoo.get_class(n), "learns_from_unlabelled", False)]
        raise ConfigError(f"{model.registered_name} cannot learn from unlabelled "
                          f"examples; --labels is for {', '.join(learners)}")
    return datasets.load_partially_labelled(
        dataset, num_labels, batch_size=batch_size, mode=model.preprocessing(True),
        seed=seed, drop_remainder=True, data_dir=data_dir)


def train_and_test(model, dataset, batch_size, seed, data_dir, drop_remainder, few_labels):
    """The training stream and the fixed test stream of a run.

    The test data uses seed 0: its split and fixed binarization must not
    change with the run's seed, or runs would be scored on different data.
    """
    test_batch = max(batch_size, 256)
    if getattr(model, "pair_data", False):
        train = datasets.load_pairs(dataset, "train", batch_size=batch_size, seed=seed,
                                    jitter=model.jitter, drop_remainder=drop_remainder,
                                    data_dir=data_dir)
        test = datasets.load_pairs(dataset, "test", batch_size=test_batch, shuffle=False,
                                   data_dir=data_dir)
        return train, test
    train = few_labels[0] if few_labels else datasets.load(
        dataset, "train", batch_size=batch_size, mode=model.preprocessing(True),
        labels=model.requires_labels, seed=seed, data_dir=data_dir,
        drop_remainder=drop_remainder)
    test = datasets.load(dataset, "test", batch_size=test_batch,
                         mode=model.preprocessing(False), labels=model.requires_labels,
                         shuffle=False, seed=0, data_dir=data_dir)
    return train, test
