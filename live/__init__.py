"""live: music-emotion-driven StyleGAN2 visuals, live and offline."""

__version__ = "0.1.0"
