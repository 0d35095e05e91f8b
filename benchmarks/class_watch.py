"""Watching the gradings of benchmarks/class_jobs.py: memory at the peak, the load, and what outlived them."""
from __future__ import annotations

import os
import threading

import psutil


class Watch:
    """Twice a second: the resident memory of the given processes and all their descendants (the peak), the
    machine's load average (the highest), and every process of theirs seen, to look for after they end."""

    def __init__(self, pids: list[int]):
        self.pids, self.peak, self.load, self.seen = pids, 0, os.getloadavg()[0], set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _family(self) -> list[psutil.Process]:
        family = []
        for pid in self.pids:
            try:
                root = psutil.Process(pid)
                family += [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        return family

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            total = 0
            for proc in self._family():
                try:
                    total += proc.memory_info().rss
                    self.seen.add((proc.pid, proc.create_time()))
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.peak = max(self.peak, total)
            self.load = max(self.load, os.getloadavg()[0])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def leftovers(watch: Watch, mark: str, folder: str) -> list[str]:
    """Processes of the class still alive: one seen in the grading's family (same pid, same start), one named
    with the spinners' mark (a spinner leaves its session, so it may never have been seen as a descendant),
    or one whose command line or working folder lies in the benchmark's folder."""
    left = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "cwd", "create_time", "status"]):
        info = proc.info
        if info["pid"] == os.getpid() or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        command = " ".join(info["cmdline"] or [])
        if ((info["pid"], info["create_time"]) in watch.seen or info["name"] == mark
                or folder in command or (info["cwd"] or "").startswith(folder)):
            left.append(f"{info['pid']} {info['name']} {command[:120]}")
    return left
