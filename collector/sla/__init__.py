"""The contract engine (DESIGN.md §7): pure functions from per-minute records to minute
states, availability, incidents, RTO breaches and penalties — no clock, no I/O."""
