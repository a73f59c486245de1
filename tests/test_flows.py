"""Flows: invertibility, log-determinants by brute force, normalization in 2-D."""

TINY_CONFIGS = {
    "nice": dict(hidden_units=(16,), num_couplings=2),
    "realnvp": dict(hidden_channels=8, couplings_per_scale=1, num_scales=1),
    "glow": dict(hidden_channels=8, steps_per_scale=1, num_scales=2),
    "maf": dict(num_layers=2, hidden_units=(16,)),
    "ffjord": dict(hidden_units=(16,), num_steps=2),
}
