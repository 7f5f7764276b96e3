"""The Business Technology Management (BTM) Standard as a continuous-improvement pipeline.

`btm` is the domain library: plain Python over DataFrames and SQLModel tables. It never
imports Prefect; the flows in `flows/` wrap its functions as tasks.
"""

__version__ = "0.1.0"
