"""LangChain 1.x: ``create_agent`` over ``ChatOpenAI`` pointed at the proxy.

Run with the LangChain venv's interpreter: ``python langchain_runner.py '<settings JSON>'``.
The calculator is a ``@tool`` with a pydantic argument schema. The step limit is LangChain's
own middleware: at most ``max_steps`` tool calls and ``max_steps + 1`` model calls per run.
"""

# ruff: noqa: PLC0415 - the framework is imported in build(), after MODULES were timed

from __future__ import annotations

import calc
import protocol

MODULES = ("langchain.agents", "langchain.agents.middleware", "langchain_openai", "pydantic")
"""What the agent needs, imported first and timed (build() then finds them loaded)."""


def build(s: protocol.Settings) -> protocol.Solve:
    from langchain.agents import create_agent
    from langchain.agents.middleware import ModelCallLimitMiddleware, ToolCallLimitMiddleware
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from pydantic import BaseModel, Field

    class CalculatorInput(BaseModel):
        expression: str = Field(description=calc.EXPRESSION_HELP)

    @tool(calc.NAME, args_schema=CalculatorInput, description=calc.DESCRIPTION)
    def calculator(expression: str) -> str:
        return calc.run(expression)

    model = ChatOpenAI(
        model=s.model,
        base_url=s.api_base,
        api_key="unused",
        temperature=s.temperature,
        max_tokens=s.max_tokens,
        timeout=s.timeout,
        max_retries=0,
    )
    agent = create_agent(
        model,
        [calculator],
        system_prompt=s.system_prompt,
        middleware=[
            ToolCallLimitMiddleware(run_limit=s.max_steps),
            ModelCallLimitMiddleware(run_limit=s.max_steps + 1, exit_behavior="end"),
        ],
    )

    def solve(prompt: str) -> str:
        state = agent.invoke({"messages": [{"role": "user", "content": prompt}]})
        replies = [str(m.text) for m in state["messages"] if isinstance(m, AIMessage)]
        answered = [r for r in replies if r.strip()]
        return answered[-1] if answered else ""

    return solve


if __name__ == "__main__":
    protocol.serve(
        MODULES,
        build,
        packages=["langchain", "langchain-core", "langchain-openai", "langgraph", "openai"],
        tool_outputs=calc.outputs,
    )
