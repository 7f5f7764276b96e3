"""Reporting: the report's context from scores, each audience's view and charts, rendering
to HTML and text, and composing a scored cycle's reports from the store."""
