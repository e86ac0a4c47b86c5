"""/metrics in the Prometheus text format: counters per app, gauges read when scraped."""
