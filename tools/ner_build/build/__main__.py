"""`python -m ner_build.build`: the same as `python -m ner_build.build.command`."""

import sys

from ner_build.build.command import main

sys.exit(main())
