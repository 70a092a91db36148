"""What people read, rendered from the SLA core's typed results: the report document
(JSON, CSV), the printable HTML report and the status page, through one template set."""
