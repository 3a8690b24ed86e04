"""Specialist SLM agents: the prompt optimizer, constrained tool steps, and the agent loop."""
