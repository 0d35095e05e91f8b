"""Grading one tree: the scratch copy, the host that runs the learner's code, the checking process's
plugin, the busy-machine rule, the verdicts and their explanations. May import the layers above it in this list:
course, isolation, services."""
