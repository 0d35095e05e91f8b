"""What the benchmarks share: time an action several times and print medians against targets."""
import statistics
import time

from rich.console import Console
from rich.progress import track
from rich.table import Table


def timed(action) -> float:
    """Seconds one call of action takes; an action may also return its own figure instead."""
    begun = time.perf_counter()
    figure = action()
    return figure if isinstance(figure, float) else time.perf_counter() - begun


def print_medians(title: str, measures: dict, runs: int) -> None:
    """measures: {what: (action, target seconds)}; one row per measure, with a progress bar while it runs."""
    table = Table(title=f"{title}, median of {runs} runs")
    for column in ("what", "median s", "min s", "max s", "target s", "within"):
        table.add_column(column)
    for name, (action, target) in measures.items():
        samples = [timed(action) for _ in track(range(runs), description=name, transient=True)]
        median = statistics.median(samples)
        table.add_row(name, f"{median:.2f}", f"{min(samples):.2f}", f"{max(samples):.2f}", f"{target:.1f}",
                      "yes" if median <= target else "NO")
    Console().print(table)
