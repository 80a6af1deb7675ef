"""Plans: the suite schema, loading suite files with line numbers, expanding a suite into points, validation."""
