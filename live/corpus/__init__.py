"""The procedural training corpus for the default generator, and the colour rulers used on it."""
