"""Evidence: the canonical kinds, the file connector and the sample enterprise."""
