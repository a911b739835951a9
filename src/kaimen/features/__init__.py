"""The feature pipeline: monthly summaries of the lake, and the point-in-time catalogue."""
