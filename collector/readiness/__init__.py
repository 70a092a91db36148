"""Go-live readiness: pure decisions on what the agents measured (docs/readiness.md)."""
