"""Read use cases: golden records, lookups, sources, lineage, history, comparisons."""
