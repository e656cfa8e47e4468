"""The runner: APScheduler wiring, worker pool, leases, schedules and workflows."""
