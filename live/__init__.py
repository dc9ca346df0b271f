"""live: music-emotion-driven StyleGAN2 visuals, live and offline."""
