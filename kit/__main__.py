import sys

from kit.commands.cli import main

sys.exit(main())
