"""Audio in: sources (device, file, demo) into a ring buffer, then analysis (mel windows,
beats, onsets, loudness) by an AudioAnalyzer that the engine feeds from its own clock."""
