"""AutoGen agentchat: an ``AssistantAgent`` over ``OpenAIChatCompletionClient`` pointed at
the proxy.

Run with the AutoGen venv's interpreter: ``python autogen_runner.py '<settings JSON>'``.
The calculator is a ``FunctionTool`` (its parameter described with ``Annotated``). The model
is unknown to AutoGen, so its capabilities are declared (``function_calling`` on). Up to
``max_steps`` tool-calling rounds (``max_tool_iterations``), then, when a tool ran, one more
call answers in text (``reflect_on_tool_use``). The agent's history is reset before each task.
"""

# ruff: noqa: PLC0415 - the framework is imported in build(), after MODULES were timed

from __future__ import annotations

from typing import Annotated

import calc
import protocol

MODULES = (
    "autogen_agentchat.agents",
    "autogen_core",
    "autogen_core.tools",
    "autogen_ext.models.openai",
)
"""What the agent needs, imported first and timed (build() then finds them loaded)."""


def calculator(expression: Annotated[str, calc.EXPRESSION_HELP]) -> str:
    """The tool function AutoGen wraps; its signature is the tool's schema."""
    return calc.run(expression)


def build(s: protocol.Settings) -> protocol.Solve:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.messages import TextMessage
    from autogen_core import CancellationToken
    from autogen_core.models import ModelInfo
    from autogen_core.tools import FunctionTool
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    client = OpenAIChatCompletionClient(
        model=s.model,
        base_url=s.api_base,
        api_key="unused",
        model_info=ModelInfo(
            vision=False,
            function_calling=True,
            json_output=False,
            family="unknown",
            structured_output=False,
        ),
        temperature=s.temperature,
        max_tokens=s.max_tokens,
        timeout=s.timeout,
        max_retries=0,
    )
    agent = AssistantAgent(
        "solver",
        model_client=client,
        tools=[FunctionTool(calculator, description=calc.DESCRIPTION, name=calc.NAME)],
        system_message=s.system_prompt,
        max_tool_iterations=s.max_steps,
        reflect_on_tool_use=True,
    )

    async def solve(prompt: str) -> str:
        await agent.on_reset(CancellationToken())
        result = await agent.run(task=prompt)
        texts = [m.content for m in result.messages if isinstance(m, TextMessage)]
        answers = [t for t in texts[1:] if t.strip()]  # the first is the task itself
        return answers[-1] if answers else str(result.messages[-1].to_text())

    return solve


if __name__ == "__main__":
    protocol.serve(
        MODULES,
        build,
        packages=["autogen-agentchat", "autogen-core", "autogen-ext", "openai"],
        tool_outputs=calc.outputs,
    )
