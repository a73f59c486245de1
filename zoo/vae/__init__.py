"""Variational autoencoders (Kingma & Welling 2014) with TFP distributions."""
