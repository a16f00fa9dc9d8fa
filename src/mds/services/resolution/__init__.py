"""Resolving signals to canonical users: prepare → lock → load → resolve → survive → persist."""
