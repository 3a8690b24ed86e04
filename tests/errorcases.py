"""One error of every kind in the canonical tree, for the error-mapping tests."""

from __future__ import annotations

from adapters import errors as E

ERRORS: list[E.EffmeshError] = [
    E.ParseError(),
    E.PayloadTooLarge(),
    E.InvalidRequest(),
    E.MethodNotFound("x"),
    E.InvalidParams("bad", path="params.name"),
    E.NotFound(),
    E.TaskNotFound("t"),
    E.Unsupported(),
    E.CannotCarry("a file", "a target"),
    E.IllegalTransition("a", "b"),
    E.Unauthorized(),
    E.Forbidden(),
    E.RateLimited(),
    E.Timeout(),
    E.UpstreamUnavailable(),
    E.Canceled(),
    E.Internal(),
]
