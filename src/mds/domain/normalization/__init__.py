"""Pure normalization of signal attributes: comparison forms, display forms, quality issues."""

from mds.domain.normalization.record import NormalizedRecord, QualityIssue, normalize_attributes

__all__ = ["NormalizedRecord", "QualityIssue", "normalize_attributes"]
