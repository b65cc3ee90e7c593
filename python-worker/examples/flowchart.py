"""Example worker for the ``flowchart`` v1 contract: validate-and-repair with a graph check.

A language model turns a process described in words into a Mermaid flowchart. Models get
such output nearly right: here the stand-in model (deterministic, offline, like a real one
that is asked once) adds a "loop back" edge that makes the chart cyclic. Three checks look at
every reply as a graph: it parses, every edge joins declared steps, and it has no cycle. The
contract declares ``repair``, so a reply that fails goes back to the handler with the exact
violations in ``context.repair``; the handler puts them in the next prompt, the model fixes
the edge, and the client gets a valid chart with ``Notebridge-Attempts: 2``. Every attempt's
tokens and cost are reported, so ``Notebridge-Cost`` counts the failed attempt too. From the
repository root:

    notebridge-worker run python-worker/examples/flowchart.py:worker --contracts-dir contracts
"""

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from notebridge_worker import RequestContext, Worker

# The repository's contracts, wherever it is imported from; $NOTEBRIDGE_CONTRACTS_DIR wins.
worker = Worker(name="flowchart", contracts_dir="../../contracts")

NODE = re.compile(r"^\s*([A-Za-z][\w-]*)\[([^\[\]\n]+)\]\s*$")
EDGE = re.compile(r"^\s*([A-Za-z][\w-]*)\s*-->\s*([A-Za-z][\w-]*)\s*$")
HEADER = re.compile(r"^flowchart (TD|LR)$")
STEP_SEPARATORS = re.compile(r"[,.;]|\bthen\b", re.IGNORECASE)
LABEL_UNSAFE = re.compile(r"[\[\]{}()|\"<>]")


@dataclass
class Graph:
    """A Mermaid flowchart as a graph: its nodes by id, its edges, the lines it cannot read."""

    nodes: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[int, str]] = field(default_factory=list)


def parse(mermaid: str) -> Graph:
    """Read the flowchart subset this contract uses: a header, ``id[label]`` and ``a --> b``."""
    graph = Graph()
    lines = mermaid.split("\n")
    if not HEADER.match(lines[0]):
        graph.unreadable.append((1, lines[0]))
    for number, line in enumerate(lines[1:], start=2):
        if node := NODE.match(line):
            graph.nodes[node[1]] = node[2]
        elif edge := EDGE.match(line):
            graph.edges.append((edge[1], edge[2]))
        elif line.strip():
            graph.unreadable.append((number, line))
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """A cycle of the graph as its node ids, first node repeated at the end; None if none."""
    following: dict[str, list[str]] = {}
    for a, b in graph.edges:
        following.setdefault(a, []).append(b)
    state: dict[str, str] = {}  # "open" while on the path, "done" once explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in following.get(node, []):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for start in list(following):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


# The checks: each gets every reply the response schema accepted and names what is wrong
# as (JSON pointer, message). Their names are the violations' keywords.


@worker.check("flowchart")
def parses(reply: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for number, line in parse(reply["mermaid"]).unreadable:
        yield "/mermaid", f"line {number} is not `id[label]` nor `a --> b`: {line!r}"


@worker.check("flowchart")
def edges_join_declared_steps(reply: dict[str, Any]) -> Iterator[tuple[str, str]]:
    graph = parse(reply["mermaid"])
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                yield "/mermaid", f"edge {a} --> {b} names {end}, which is not declared"


@worker.check("flowchart")
def acyclic(reply: dict[str, Any]) -> list[tuple[str, str]]:
    cycle = find_cycle(parse(reply["mermaid"]))
    if cycle is None:
        return []
    closing = f"{cycle[-2]} --> {cycle[-1]}"
    return [("/mermaid", f"edge {closing} closes the cycle {' -> '.join(cycle)}")]


@worker.check("flowchart")
def counts_its_steps(reply: dict[str, Any]) -> list[tuple[str, str]]:
    declared = len(parse(reply["mermaid"]).nodes)
    if reply["steps"] != declared:
        return [("/steps", f"says {reply['steps']} steps; the chart declares {declared}")]
    return []


class StandInModel:
    """A deterministic stand-in for a language model, so the example runs offline.

    It reads the prompt as a model would: the process after ``Process:``, and, in a repair
    prompt, the edges the violations say close a cycle, which it leaves out. Asked first, it
    makes the mistake models make with processes: a "loop back" from the last step to the
    first. Token counts are words; the price is per thousand tokens.
    """

    name = "stand-in-flowchart-1"
    price_per_1k_tokens = 0.002

    def complete(self, prompt: str) -> str:
        process = prompt.split("Process:", 1)[1].split("\n", 1)[0]
        steps = [
            LABEL_UNSAFE.sub("", part).strip()
            for part in STEP_SEPARATORS.split(process)
            if part.strip()
        ]
        ids = [f"s{number}" for number in range(1, len(steps) + 1)]
        edges = list(itertools.pairwise(ids))
        if len(ids) > 1:
            edges.append((ids[-1], ids[0]))  # the mistake: "and start over"
        refused = set(re.findall(r"edge (\w+) --> (\w+) closes", prompt))
        edges = [edge for edge in edges if edge not in refused]
        lines = ["flowchart TD"]
        lines += [f"  {node}[{label}]" for node, label in zip(ids, steps, strict=True)]
        lines += [f"  {a} --> {b}" for a, b in edges]
        return "\n".join(lines)


model = StandInModel()

PROMPT = """Draw this process as a Mermaid flowchart (flowchart TD, nodes s1, s2, ...).
Process:{process}
"""

REPAIR_PROMPT = """Your previous flowchart was:
{previous}
It has these problems; draw it again without them:
{violations}
"""


@worker.handler("flowchart", version=1)
def flowchart(request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
    prompt = PROMPT.format(process=request["process"])
    if context.repair is not None:
        previous = context.repair.previous_output
        prompt += REPAIR_PROMPT.format(
            previous=previous.get("mermaid", previous) if isinstance(previous, dict) else previous,
            violations=context.repair.feedback(),
        )
    chart = model.complete(prompt)
    input_tokens, output_tokens = len(prompt.split()), len(chart.split())
    context.report_usage(
        model=model.name,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=(input_tokens + output_tokens) * model.price_per_1k_tokens / 1000,
    )
    return {"mermaid": chart, "steps": len(parse(chart).nodes)}
