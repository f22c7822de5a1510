"""Encoders: everything downstream of the runner sees an `Encoder` (see `base.py`)."""
