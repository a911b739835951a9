"""The monthly score: training, the batch, and reading scores back."""
