"""Labelled images and music for the shared VA space, every source in one record format.

Records (records.py): `LabelledImage` and `LabelledClip`, labels in [0, 1]^2 with a weight
and a split key; split.py divides them into train and held-out test by a stable hash.
Label mappings: labels.py, tabled in LABELS.md beside this file.

Readers of real data: deam, naps, emotic, imemnet (pairs), oasis, fourq (4Q), emopia and
vgmidi (MIDI rendered once by midi.py). Synthetic corpora with rule-based labels:
synth_music (music cues) and procedural_va (procedural images labelled by colour,
color_emotion). Loading: audio.py (mono float32; decoded clips are cached by live.space.pools), images.py.
"""
