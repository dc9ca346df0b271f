"""Moving a source latent w_o toward the music: optimization, amortized predictor, refinement."""
