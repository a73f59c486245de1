"""The shared contract, run for every registered model."""

import pytest

import zoo
from tests import contract

MODELS = zoo.list_models()


def test_registry_lists_models():
    assert {"vae", "conv_vae"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_fit_step(name):
    contract.fit_step(name)


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_samples(name):
    contract.seeds_reproduce(name)


@pytest.mark.parametrize("name", MODELS)
def test_keras_round_trip(name, tmp_path):
    contract.keras_round_trip(name, tmp_path)


@pytest.mark.parametrize("name", MODELS)
def test_export_round_trip_without_zoo_or_tfp(name, tmp_path):
    contract.export_round_trip(name, tmp_path)


@pytest.mark.parametrize("name", MODELS)
def test_config_is_constructor_kwargs(name):
    model = contract.build(name)
    config = model.get_config()
    accepted = set(zoo.registry.accepted_kwargs(type(model))) | {"name"}
    assert set(config) <= accepted, set(config) - accepted
    clone = type(model).from_config(config)
    assert clone.get_config() == config
