"""Judging the names one module imports: the findings and TG004 edges of that module.

The base of :class:`~taskguard._static.analyze.Analyzer`: the statement pass and the
expression pass find what a module imports; this decides what each import means under the
policy, once per name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from taskguard._imports import import_candidates
from taskguard._policy import Policy, Verdict, decide
from taskguard._rules import TG003
from taskguard._static.members import other_names
from taskguard._static.records import Finding, ImportRef


class Judge:
    """The policy as one module sees it, and what has been found in that module so far."""

    def __init__(self, policy: Policy, module: str, package: str, *, graph: bool) -> None:
        self.policy = policy
        self.module = module
        self.package = package
        self.graph = graph
        self.protected_by = policy.protected_by(module)
        self.sanctioned = policy.is_sanctioned(module)
        # Bound, memoised pattern lookups: called for every name every import binds.
        self.dispatch_match = policy._dispatch.first_match
        self.forbidden_match = policy._forbidden.first_match
        self.root_match = policy._roots.first_match
        self.allow_index = {entry: i for i, entry in enumerate(policy.allow)}
        self.findings: list[Finding] = []
        self.imports: list[ImportRef] = []
        # The patterns this module is judged by, and the other names their members can be
        # imported by (the standard library's defining modules, see members.other_names).
        self.patterns = (policy.forbidden_in_protected if self.protected_by is not None else ()) + (
            () if self.sanctioned else policy.dispatch_modules
        )
        self.aliases_of = other_names(self.patterns) if self.patterns else {}
        self._renamed: dict[str, Verdict | None] = {}
        # For TG004: a forbidden member imported from its defining module is an edge to it.
        self.graph_aliases = other_names(policy.forbidden_in_protected) if graph else {}

    def judge(self, base: str, members: Sequence[str], node: Any, stmt_line: int) -> None:
        """Judge an import of ``base`` and of ``base.m`` for each member ``m``.

        A member is reported only when the base module is not already reported under the
        same code: ``from httpx import Client`` is one TG002 (for ``httpx``), while
        ``from concurrent.futures import ProcessPoolExecutor`` is one for the member.
        """
        line, col = node.lineno, node.col_offset
        names = import_candidates(base, members)
        if self.graph:
            self.record_graph_imports(names, line, col, stmt_line)
        base_verdict = self.verdict(base)
        for i, name in enumerate(names):
            verdict = base_verdict if i == 0 else self.verdict(name)
            if verdict is None or (
                i and base_verdict is not None and base_verdict.code == verdict.code
            ):
                continue
            self.report(verdict, name, line, col, stmt_line)

    def report(self, verdict: Verdict, name: str, line: int, col: int, stmt_line: int) -> None:
        allow = -1 if verdict.allowed_by is None else self.allow_index[verdict.allowed_by]
        self.findings.append(
            Finding(line, col, stmt_line, verdict.code, name, verdict.message, allow, ())
        )

    def verdict(self, name: str) -> Verdict | None:
        """``decide(policy, module, name)``, asked only when a pattern can apply: the same
        answer, without a call per import name of every module in the project.

        A member imported from the module that defines it (``concurrent.futures.process.
        ProcessPoolExecutor`` for the entry ``concurrent.futures.ProcessPoolExecutor``) is
        judged as the entry, allow entries included; the message names both.
        """
        if (self.dispatch_match(name) is not None and not self.sanctioned) or (
            self.protected_by is not None and self.forbidden_match(name) is not None
        ):
            return decide(self.policy, self.module, name)
        if self.aliases_of:
            return self.renamed(name)
        return None

    def renamed(self, name: str) -> Verdict | None:
        try:
            return self._renamed[name]
        except KeyError:
            pass
        verdict = None
        for other, entry in self.aliases_of.items():
            if name == other or name.startswith(other + "."):
                same = entry + name[len(other) :]
                found = decide(self.policy, self.module, same)
                if found is not None:
                    verdict = dataclasses.replace(found, imported=f"{name} (that is, {same})")
                break
        self._renamed[name] = verdict
        return verdict

    def record_graph_imports(self, names: list[str], line: int, col: int, stmt_line: int) -> None:
        """Keep the names TG004 needs: first-party modules and forbidden ones.

        A forbidden member is implied by a recorded forbidden base. A sanctioned module's
        import of a dispatch library is the sanctioned path, so the forbidden names that
        statement touches on the way (``google.cloud`` for ``google.cloud.tasks_v2``) are not
        forbidden targets.
        """
        dispatch = (
            [n for n in names if self.dispatch_match(n) is not None] if self.sanctioned else []
        )
        base_recorded = False
        for i, given in enumerate(names):
            name = self.canonical(given)
            if self.root_match(name) is not None:
                self.imports.append(ImportRef(line, col, stmt_line, name))
                continue
            if self.forbidden_match(name) is None or (i and base_recorded):
                continue
            if any(d == name or d.startswith(name + ".") for d in dispatch):
                continue
            self.imports.append(ImportRef(line, col, stmt_line, name))
            base_recorded = base_recorded or i == 0

    def canonical(self, name: str) -> str:
        """``name``, or the policy entry's name for a member imported from the module that
        defines it (``concurrent.futures.process.ProcessPoolExecutor``)."""
        for other, entry in self.graph_aliases.items():
            if name == other or name.startswith(other + "."):
                return entry + name[len(other) :]
        return name

    def dynamic(self, construct: str, node: Any, stmt_line: int) -> None:
        if self.protected_by is None:
            return
        message = TG003.template.format(
            importer=self.module, protected=self.protected_by, construct=construct
        )
        self.findings.append(
            Finding(node.lineno, node.col_offset, stmt_line, TG003.code, None, message, -1, ())
        )
