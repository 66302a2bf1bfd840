"""`python -m cli` runs the `plays` command."""
from cli.main import main

main()
