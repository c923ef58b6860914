"""`python3 serving-standin [flags]` (the image's `tensorflow_model_server` runs it this way): the
directory on sys.path makes the `standin` package beside this file importable without installing it.
"""
import sys

from standin.main import main

sys.exit(main(sys.argv[1:]))
