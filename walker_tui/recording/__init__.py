"""The --record formats: their writers, readers and end records."""
