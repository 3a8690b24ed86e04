"""smolagents: a ``ToolCallingAgent`` over ``OpenAIModel`` pointed at the proxy.

Run with the smolagents venv's interpreter: ``python smolagents_runner.py '<settings JSON>'``.
The calculator is a ``Tool`` subclass. The shared system prompt goes in as ``instructions``
(smolagents keeps its own system prompt and appends them); ``max_steps`` is the agent's own
step limit, after which it asks the model once more for a final answer.
"""

# ruff: noqa: PLC0415 - the framework is imported in build(), after MODULES were timed

from __future__ import annotations

import calc
import protocol

MODULES = ("smolagents",)
"""What the agent needs, imported first and timed (build() then finds them loaded)."""


def build(s: protocol.Settings) -> protocol.Solve:
    from smolagents import LogLevel, OpenAIModel, Tool, ToolCallingAgent

    class Calculator(Tool):  # type: ignore[misc]
        name = calc.NAME
        description = calc.DESCRIPTION
        # smolagents reads these class attributes: the tool's interface.
        inputs = {"expression": {"type": "string", "description": calc.EXPRESSION_HELP}}  # noqa: RUF012
        output_type = "string"

        def forward(self, expression: str) -> str:
            return calc.run(expression)

    model = OpenAIModel(
        model_id=s.model,
        api_base=s.api_base,
        api_key="unused",
        client_kwargs={"timeout": s.timeout, "max_retries": 0},
        temperature=s.temperature,
        max_tokens=s.max_tokens,
    )
    agent = ToolCallingAgent(
        tools=[Calculator()],
        model=model,
        instructions=s.system_prompt,
        max_steps=s.max_steps,
        verbosity_level=LogLevel.OFF,
    )

    def solve(prompt: str) -> str:
        return str(agent.run(prompt, reset=True))

    return solve


if __name__ == "__main__":
    protocol.serve(
        MODULES,
        build,
        packages=["smolagents", "openai"],
        tool_outputs=calc.outputs,
    )
