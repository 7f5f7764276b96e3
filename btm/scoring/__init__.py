"""Scoring: the rubric (rules per capability x dimension and level, read from data), the
engine that turns a unit's metrics into staged levels with their traces, the survey as a
second opinion, and the roll-up rule."""
