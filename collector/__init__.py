"""dui-collector: ingest, ledger, contract engine, /metrics, reports (docs/architecture.md)."""
