"""/metrics: one catalogue of every family (catalogue.py), the samples each family takes
from the collector's state and the SLA reports (samples.py), a fast text writer
(exposition.py) and docs/metrics.md generated from the catalogue (docs.py)."""
