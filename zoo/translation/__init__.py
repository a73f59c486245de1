"""Image-to-image translation: pix2pix, CycleGAN, SRResNet/SRGAN, StarGAN."""
