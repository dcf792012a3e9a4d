"""Routing rules and replay: matrix conditions, enrichment, rule sets, and the offline
comparison of a candidate with a baseline."""

from __future__ import annotations

from .comparison import Comparison, compare, load_capacity, replay
from .dask_replay import dask_compare
from .enrich import DuplicateContactWarning, Enrichment, EnrichmentReport
from .matrix import MatrixError, ShadowedRuleWarning, TargetNameWarning
from .matrix_file import LoadedMatrix, MatrixSource
from .ruleset import (
    ImplicitUTCWarning,
    PythonRule,
    RuleDecision,
    RuleSet,
    TimezoneMismatchWarning,
    load_matrix,
)
from .streamed import StreamedComparison, stream_compare

__all__ = [
    "Comparison",
    "DuplicateContactWarning",
    "Enrichment",
    "EnrichmentReport",
    "ImplicitUTCWarning",
    "LoadedMatrix",
    "MatrixError",
    "MatrixSource",
    "PythonRule",
    "RuleDecision",
    "RuleSet",
    "ShadowedRuleWarning",
    "StreamedComparison",
    "TargetNameWarning",
    "TimezoneMismatchWarning",
    "compare",
    "dask_compare",
    "load_capacity",
    "load_matrix",
    "replay",
    "stream_compare",
]
