"""Deterministic autoencoders: undercomplete, sparse, denoising, contractive, linear."""
