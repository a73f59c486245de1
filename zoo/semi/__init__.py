"""Learning from few labels: M2 VAE, semi-supervised GAN, Siamese and triplet networks."""
