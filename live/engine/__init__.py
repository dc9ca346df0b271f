"""The stages wired together: threads and slots (real time) or a simulated clock (offline)."""
