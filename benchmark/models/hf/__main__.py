"""``python -m benchmark.models.hf --input IN --output OUT``."""

import sys

from benchmark.models.hf.train import main

sys.exit(main())
