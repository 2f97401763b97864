"""Human-readable summaries and benchmark reports."""
