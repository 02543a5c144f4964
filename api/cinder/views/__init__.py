"""Cinder response bodies built from catalog rows; pure functions, no I/O."""
