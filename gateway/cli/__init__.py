"""The ``effmesh`` command line: serve, ask, agents, trace, calibrate and the tools around them."""
