import sys

from kerastl.cli import main

sys.exit(main())
