"""Preparation of the weekly tumor conferences (Tumorkonferenzen) of a certified cancer center."""
