"""Evidence: the canonical kinds, the sources and their connectors, and gathering: fetch,
archive, read, validate, store and plan."""
