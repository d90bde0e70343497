"""Run records and comparison with measured kernel runs."""
