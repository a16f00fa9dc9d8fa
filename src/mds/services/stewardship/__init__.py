"""Stewardship use cases: merge, unmerge, split, erase, and the review queue's decisions."""
