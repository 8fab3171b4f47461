"""``python -m promptgov``."""

from .cli import main

main()
