"""Metrics and structured logs; neither ever holds patient data or tokens."""
