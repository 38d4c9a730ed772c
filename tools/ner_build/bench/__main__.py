"""`python -m ner_build.bench`: the same as `python -m ner_build.bench.command`."""

import sys

from ner_build.bench.command import main

sys.exit(main())
