"""The command line, `kit ...`: cli.py parses the arguments and calls one module per group: learner.py
(check, stages, status, serve, hint, solve, reset), instructor.py (release, grade-all, grade-merge, bench)
and common.py, what they share. May import every layer of the kit; nothing imports it."""
