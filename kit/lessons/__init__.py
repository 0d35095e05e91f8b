"""What the notebooks use: the cells' helpers, the kernel, translated notebooks, the lessons' code
fragments, fonts, kit check --watch. May import every layer from course to output."""
