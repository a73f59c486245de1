"""Diffusion and flow matching: DDPM (with DDIM samplers), flow matching.

`process.py` holds the noise processes and their samplers as plain
functions of a predictor callable, so they are tested apart from any
network (`tests/test_diffusion.py` plugs in closed-form predictors).
"""
