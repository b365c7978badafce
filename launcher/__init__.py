"""`make run`'s supervisor: starts CareDesk's processes in order, keeps each one's output in a
rotated log, restarts a process that dies (with back-off) while the others keep serving, and
stops them all on Ctrl-C or SIGTERM. scripts/run.sh prepares the environment and execs
`python -m launcher`."""
