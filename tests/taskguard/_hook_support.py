"""Source text the runtime-guard tests share: an import hook written into a test project."""

# A loader that runs a module's code without the builtin exec (so no audit event says it
# ran): what an import hook in front of the guard can do, which the guard must report.
# Needs ``types`` imported where it is pasted.
NO_EXEC_LOADER = """
class NoExecLoader:
    def __init__(self, path):
        self.path = path
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        with open(self.path, encoding="utf-8") as fh:
            code = compile(fh.read(), self.path, "exec")
        types.FunctionType(code, module.__dict__)()  # never the builtin exec
"""
