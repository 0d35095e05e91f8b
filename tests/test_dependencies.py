"""pyproject.toml and environment.yml name the same packages with the same version ranges."""
import re
import tomllib

from conftest import KIT_ROOT

# conda-forge spells a few packages differently from PyPI.
CONDA_TO_PYPI = {"redis-py": "redis", "channels_redis": "channels-redis"}
CONDA_ONLY = {"python", "pip", "redis-server"}


def normalise(requirement: str) -> tuple[str, str]:
    requirement = requirement.split("#")[0].strip()
    name, spec = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", requirement).groups()
    name = CONDA_TO_PYPI.get(name, name).lower().replace("_", "-")
    return name, spec.replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((KIT_ROOT / "pyproject.toml").read_text())
    return dict(normalise(r) for r in data["project"]["dependencies"])


def conda_requirements() -> dict[str, str]:
    found = {}
    for line in (KIT_ROOT / "environment.yml").read_text().splitlines():
        item = re.match(r"\s+- (?!pip:)(\S.*)$", line)
        if item and not line.strip().startswith("- conda-forge"):
            name, spec = normalise(item.group(1))
            if name not in CONDA_ONLY:
                found[name] = spec
    return found


def test_same_packages_in_both_lists():
    pip, conda = pyproject_requirements(), conda_requirements()
    assert set(pip) == set(conda), f"only in pyproject: {set(pip) - set(conda)}; only in environment.yml: {set(conda) - set(pip)}"


def test_same_version_ranges_in_both_lists():
    pip, conda = pyproject_requirements(), conda_requirements()
    differing = {name: (pip[name], conda[name]) for name in pip if pip[name] != conda.get(name)}
    assert not differing, f"version ranges differ (pyproject, environment.yml): {differing}"


def test_daphne_floor_has_message_size_limit():
    # daphne before 4.2.2 has no WebSocket message size limit (CVE-2026-44545).
    assert pyproject_requirements()["daphne"].startswith(">=4.2.2")


def test_conda_environment_brings_a_redis_server():
    assert re.search(r"^\s+- redis-server\b", (KIT_ROOT / "environment.yml").read_text(), re.M)
