"""The regional path: processing and delivery as procrastinate jobs in the store's PostgreSQL database.

On SQLite (the embedded default) nothing here runs: the service processes and delivers in-process.
On PostgreSQL, `renkei run` runs the sources (listeners; scans as procrastinate periodic jobs) and
`renkei worker` (any number, any host) runs the jobs. Each state change commits together with its next
job (jobs.py, the store's JobHook); delivery jobs lock on (destination, patient) so a patient's order
holds across workers while other patients run in parallel (deliver.py); killed workers' jobs are
retried (app.py, `retry_stalled`), and the idempotency ledger keeps a retried delivery from doubling.
See docs/scaling.md.
"""
