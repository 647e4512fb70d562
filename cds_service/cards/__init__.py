"""Finding -> CDS Hooks card. The only place that writes card text."""
