import sys

from kerastl.cli.commands import main

sys.exit(main())
