"""Figures, not tests: run each as a module from the kit's folder (`python -m benchmarks.load`), as `make bench` does.

Run that way the kit's folder is on sys.path, so a benchmark imports the
package and the tests' helpers (tests.classic, tests.notebook_runner) as they
are, with no path edits.
"""
