"""The contract engine (docs/sla.md), pure: minute records, maintenance and evidence in,
typed results out — no clock, no ledger, no rendering. records.py says which results
count and what a failed one is; engine.py decides each minute; period.py makes a
PeriodReport of a period; now.py adds the state of the last minute and the sites."""
