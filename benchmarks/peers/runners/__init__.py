"""One runner script per agent framework, each run with that framework's own interpreter.

The scripts import only the standard library, their framework, and the two shared modules
here (``protocol``, ``calc``), never effmesh: a peer's virtual environment does not hold it.
"""
