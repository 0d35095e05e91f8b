"""What a grading says: the verdict table, JSON and JUnit, GitHub Classroom's files, the student release.
May import course, isolation, services and grading."""
