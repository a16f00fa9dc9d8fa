"""Envelope encryption of PII, blind indexes and the key providers behind them."""
