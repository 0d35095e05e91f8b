"""Grading a whole class: the class folder, learners side by side (--jobs), shards and their merge,
the gradebook's files, feedback per learner, report.html. May import every layer below it (course to output)."""
