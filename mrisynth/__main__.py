import sys

from mrisynth.cli.main import main

sys.exit(main())
