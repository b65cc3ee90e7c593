"""Running a coroutine's first step at once, as Python 3.12's eager tasks do, on 3.10 too."""

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any


def start_eagerly(coroutine: Coroutine[Any, Any, Any]) -> "asyncio.Future[Any]":
    """Run a coroutine's first step now, and the rest, if any, in a task of its own.

    Most async handlers of a notebook need no I/O: they end in their first step, and their
    outcome is then a finished future, with no task to create and nothing to wait for (what
    Python 3.12's eager tasks do). One that awaits something goes on in a task from there.
    """
    try:
        step = coroutine.send(None)
    except StopIteration as finished:
        outcome = asyncio.get_running_loop().create_future()
        outcome.set_result(finished.value)
        return outcome
    except (Exception, asyncio.CancelledError) as error:
        outcome = asyncio.get_running_loop().create_future()
        outcome.set_exception(error)
        return outcome
    return asyncio.ensure_future(_resume(coroutine, step))


async def _resume(coroutine: Coroutine[Any, Any, Any], step: Any) -> Any:
    return await _Resumed(coroutine, step)


class _Resumed:
    """The rest of a coroutine whose first step ran already and yielded ``step``.

    Awaited in a task, it hands the task what the coroutine yields (the futures it waits
    for) and the coroutine what the task sends or throws (a cancellation), as ``await``
    would have from the start.
    """

    def __init__(self, coroutine: Coroutine[Any, Any, Any], step: Any) -> None:
        self.coroutine, self.step = coroutine, step

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, step = self.coroutine, self.step
        while True:
            try:
                sent = yield step
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as error:
                try:
                    step = coroutine.throw(error)
                except StopIteration as finished:
                    return finished.value
            else:
                try:
                    step = coroutine.send(sent)
                except StopIteration as finished:
                    return finished.value
