"""Card analytics for the CDS committee: the API, the page and the report formats (section 4)."""
