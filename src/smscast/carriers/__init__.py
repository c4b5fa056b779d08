"""Carriers: where message parts are handed over (sandbox, SMPP). They know nothing about campaigns."""
