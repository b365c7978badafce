"""Privacy: find one customer's data, export it, erase it (bot/privacy/find.py, export.py,
erase.py), and erase conversations older than RETENTION_DAYS (retention.py). Used by the
admin API and console page (views.py) and the command line (cli.py)."""
