"""The one place that picks fonts for the lessons' plots, so Bengali labels render.

    from kit.lessons.fonts import use_for_plots
    use_for_plots()          # Latin text in DejaVu Sans, Bengali glyphs from a Bengali font

matplotlib (3.11 or newer shapes complex scripts, so conjuncts such as ক্ষ join)
falls back glyph by glyph along `font.family`: DejaVu Sans first, then the
first Bengali-capable font this machine has (Debian/Ubuntu: `fonts-noto-core`).
"""
from __future__ import annotations

# In order of preference; the first one installed wins.
BENGALI_FONTS = ("Noto Sans Bengali", "Noto Serif Bengali", "Noto Sans Bengali UI", "Lohit Bengali",
                 "Hind Siliguri", "Mukti", "Kohinoor Bangla", "Bangla MN", "Nirmala UI", "Vrinda")
LATIN_FONT = "DejaVu Sans"   # ships with matplotlib


def bengali_font() -> str | None:
    """The family name of an installed Bengali-capable font, or None."""
    from matplotlib import font_manager

    def installed():
        return {f.name for f in font_manager.fontManager.ttflist}

    names = installed()
    found = next((name for name in BENGALI_FONTS if name in names), None)
    if found is None:
        # matplotlib caches the font list: a font installed after the cache was built is not in it yet.
        for path in font_manager.findSystemFonts():
            if "bengali" in path.lower() or "bangla" in path.lower():
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        names = installed()
        found = next((name for name in BENGALI_FONTS if name in names), None)
    return found


def use_for_plots() -> str | None:
    """Make matplotlib render Bengali labels; returns the Bengali font used (None: none is installed).

    `font.family` becomes a list of real families, which matplotlib walks glyph by glyph:
    Latin letters from DejaVu Sans, Bengali from the Bengali font.
    """
    import matplotlib

    found = bengali_font()
    matplotlib.rcParams["font.family"] = [LATIN_FONT, *([found] if found else [])]
    return found
