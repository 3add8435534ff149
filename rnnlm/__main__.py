"""``python -m rnnlm`` runs the command-line interface."""

from rnnlm.cli import main

if __name__ == "__main__":
    main()
