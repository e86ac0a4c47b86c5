"""What the clock raises (missed check-ins, no relief, escalation): above alerts and reports,
since it judges stored reports and raises alerts, and below the worker that runs it."""
