"""A stage is called the same in the Bengali lesson's heading and in everything the kit says (kit.po)."""
from __future__ import annotations

import nbformat
import pytest

from kit.course import catalogue, i18n


@pytest.mark.parametrize("stage", catalogue.STAGES, ids=[s.id for s in catalogue.STAGES])
def test_the_kit_names_a_stage_as_its_bengali_lesson_does(stage):
    lesson = nbformat.read(catalogue.NOTEBOOKS_DIR / "bn" / stage.notebook, as_version=4)
    heading = lesson.cells[0].source.splitlines()[0]
    said = i18n.gettext_in("bn", stage.title)
    assert heading == f"# ধাপ {i18n.numeral(stage.number, 'bn')}: {said}", (heading, said)
