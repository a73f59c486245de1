"""Hybrids assembled from the zoo's own parts: VQ-VAE + PixelCNN prior, PixelVAE, VAE-GAN, BiGAN."""
