"""The commands `kit` runs, one module per group (kit/cli.py parses the arguments and calls them):
learner.py (check, stages, status, serve, hint, solve, reset), instructor.py (release, grade-all,
grade-merge, bench) and common.py, what they share."""
