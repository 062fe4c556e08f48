"""The README is the package page: its links must work there, away from the repository.

A relative link (`docs/cli.md`) resolves against the package index's page, where no such file
exists. Every link is absolute; those into this repository name a file that exists.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
# [text](target) and <a href="target">; reference definitions "[id]: target".
_INLINE = re.compile(r"\]\(\s*<?([^)\s>]+)")
_HREF = re.compile(r"""href=["']([^"']+)["']""")
_DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?\s*$", re.MULTILINE)


_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")


def _links(markdown: str) -> list[str]:
    # Code is not a link: `__builtins__["__import__"]("x")` holds "](".
    markdown = _CODE_SPAN.sub("", _FENCE.sub("", markdown))
    return [
        *_INLINE.findall(markdown),
        *_HREF.findall(markdown),
        *_DEFINITION.findall(markdown),
    ]


def _repository() -> str:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    url: str = pyproject["project"]["urls"]["Repository"]
    return url.rstrip("/")


def test_every_readme_link_is_absolute_and_every_repository_file_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    links = _links(readme)
    assert len(links) > 10, links
    repository = _repository()
    relative = [link for link in links if not re.match(r"https?://", link)]
    assert not relative, f"relative links do not work on the package page: {relative}"
    missing = []
    for link in links:
        if not link.startswith(repository + "/"):
            continue
        rest = link[len(repository) + 1 :].split("#", 1)[0]
        match = re.fullmatch(r"(?:blob|tree)/main/(.+)", rest)
        if match is None:
            assert rest in {"issues", ""}, link
            continue
        if not (ROOT / match.group(1)).exists():
            missing.append(link)
    assert not missing, f"links to files that do not exist: {missing}"


def test_the_link_scan_sees_every_form() -> None:
    sample = "See [a](docs/a.md), [b](https://host/b), <a href='c.md'>c</a>.\n\n[d]: d.md\n"
    assert _links(sample) == ["docs/a.md", "https://host/b", "c.md", "d.md"]
