"""Load and figures: the one load driver and tally, the bare websockets baseline, kit bench.
May import every layer from course to output."""
