"""The static checker behind ``taskguard check``, one module per concern.

Pipeline (``run``): discover the first-party files (``discover``) -> one record per file
(``records``), from the cache (``cached``) or by reading the bytes (``source``), letting the
byte prefilter (``prefilter``; its fast first test in ``screen``, the byte searches both share
in ``bytescan``) decide whether the parsed file needs the AST pass
(``analyze`` for statements, ``expressions`` for the expression pass, ``judge`` for what each
imported name means under the policy, ``scopes`` for which binding a name refers to,
``members`` for where a standard-library member is defined, ``names`` for the names the
pass resolves), in worker processes when that pays (``parallel``; a crash costs one file,
see ``isolate``) -> combine the records: allow entries, inline suppressions (``suppress``),
TG004 chains (``graph``), and TG005 for whatever matched nothing. A run that judged no file
says why (``empty``).

By default the byte prefilter decides which files are parsed: it is sound (a file it rules
out holds no import the policy could judge), so a file it rules out is not parsed at all, and
with ``indirect = true`` the others may be parsed only up to their last import. A file it
passes that cannot be read or parsed is TG900. Parsing every file (``check(parse_all=True)``,
``--parse-all``) also reports a syntax error anywhere as TG900; a file the prefilter rules out
then only has its syntax checked, without building a syntax tree.

This module only re-exports; importing it loads what a cached run needs and nothing of the
analysis.
"""

from taskguard._static.records import CheckResult
from taskguard._static.run import FULL, MODES, PARSE_ALL, PREFILTER, check, run_check

__all__ = ["FULL", "MODES", "PARSE_ALL", "PREFILTER", "CheckResult", "check", "run_check"]
