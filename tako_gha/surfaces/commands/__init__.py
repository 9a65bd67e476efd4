"""The CLI verbs, one module each; ``surfaces/cli.py`` assembles them."""
