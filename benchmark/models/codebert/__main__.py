"""``python -m benchmark.models.codebert --input IN --output OUT``."""

import sys

from benchmark.models.codebert.train import main

sys.exit(main())
