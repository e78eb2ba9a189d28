"""Report writers: the HTML report (and, later, network pictures)."""
