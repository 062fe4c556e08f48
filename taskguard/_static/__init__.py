"""The static checker behind ``taskguard check``, one module per concern.

Pipeline (``run``): discover the first-party files (``discover``) -> one record per file
(``records``), from the cache (``cached``) or by reading the bytes (``source``), letting the
byte prefilter (``prefilter``) decide whether the parsed file needs the AST pass
(``analyze``, with what names mean in ``names``), in worker processes when that pays
(``parallel``) -> combine the records: allow entries, inline suppressions (``suppress``),
TG004 chains (``graph``), and TG005 for whatever matched nothing.

Every file is parsed by default, so a file Python cannot compile is always TG900 (fail
closed). A file the prefilter proves irrelevant only has its syntax checked, without building
a syntax tree. The fast mode (``check(prefilter=True)``, ``--fast``) does not parse such a
file at all, and with ``indirect = true`` parses the others only up to their last import.

This module only re-exports; importing it loads what a cached run needs and nothing of the
analysis.
"""

from taskguard._static.records import CheckResult
from taskguard._static.run import DEFAULT, FAST, FULL, MODES, check, run_check

__all__ = ["DEFAULT", "FAST", "FULL", "MODES", "CheckResult", "check", "run_check"]
