"""The benchmark suite: `python -m bench [--quick | --full]` (see bench/__main__.py)."""
