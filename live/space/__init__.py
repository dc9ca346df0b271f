"""The shared valence-arousal space: the seed's losses, the encoder bundle, data, training."""
