"""Hierarchical routing: complexity analysis, strategy, decomposition and execution over the
registry. It works on canonical values and the ``Agent`` interface only, never on a protocol."""
