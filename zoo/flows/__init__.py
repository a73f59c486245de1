"""Normalizing flows: NICE, Real NVP, Glow, MAF, FFJORD."""
