"""Allow ``python -m matcher``."""
from matcher.cli import main

main()
