"""The scorecard model: binning, points, evaluation and its JSON artifact (pure computation)."""
