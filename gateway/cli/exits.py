"""Exit codes of the effmesh commands that run something (``ask``, ``calibrate``)."""

from typing import Final

EXIT_COMPLETED: Final = 0
"""It did what was asked (a run that completed only partly says so in its answer)."""
EXIT_FAILED: Final = 1
"""It started and failed."""
EXIT_NOT_STARTED: Final = 2
"""It never started: bad usage or configuration, an unreadable file, an unreachable or
refusing gateway."""
EXIT_INTERRUPTED: Final = 130
"""Interrupted (Ctrl-C), after the work it started was canceled."""
