"""What `make test-lowest` installs: the SDK's runtime dependencies at their lower bounds.

    python lowest_constraints.py pyproject.toml          # pip constraints, one pin each
    python lowest_constraints.py pyproject.toml test     # the extra's packages, unpinned

The test tools go unpinned so that pip picks versions that accept the lowest runtime
dependencies (a pinned tool may itself need a newer jsonschema).
"""

import re
import sys

import tomllib

LOWER = re.compile(r"^([A-Za-z0-9_.-]+)\s*(?:\[[^]]*\])?\s*>=\s*([^,;\s]+)")
NAME = re.compile(r"^([A-Za-z0-9_.-]+(?:\[[^]]*\])?)")


def main(pyproject: str, extra: str | None = None) -> int:
    with open(pyproject, "rb") as file:
        project = tomllib.load(file)["project"]
    if extra is not None:
        for requirement in project["optional-dependencies"][extra]:
            found = NAME.match(requirement)
            assert found is not None, requirement
            print(found.group(1))
        return 0
    for requirement in project["dependencies"]:
        found = LOWER.match(requirement)
        if found is None:
            print(f"{requirement}: no lower bound", file=sys.stderr)
            return 1
        name, version = found.groups()
        marker = requirement.partition(";")[2].strip()
        print(f"{name}=={version}" + (f"; {marker}" if marker else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
