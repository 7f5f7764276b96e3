"""The demo: the sample enterprise's evidence and the PMO's part of `btm demo`."""
