"""Per-agent, daily and per-rule reports: aggregate queries over a period, as JSON, CSV or XLSX."""
