"""Adversarial family: GANs whose `train_step` alternates two players, and the AAE."""
