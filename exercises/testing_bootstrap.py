"""The first code of every run of a learner's suite in the `testing` checkpoint, before any learner code.

Not imported by the checker: its text is handed to `python -I -B -c` inside the sandbox, so nothing in the
learner's tree (a sitecustomize.py, a .pth, PYTHONPATH) runs before it. Arguments:
    FD TREE MARKER PYTEST-ARGS...
FD ("-" for none) is an open file holding the compiled consumer (marshal, docstrings stripped): it is read
and closed here, and myapp.consumers is then imported from it by a finder placed first on sys.meta_path.
The consumer's text never enters the sandbox: myapp/consumers.py in the tree is a stub, and an audit hook
(which Python never lets anyone remove) refuses to open it; when learner code tries, MARKER is created, so
the checker can say so in plain words. The .pyc route is closed too: nothing compiled from the consumer is
ever written (-B), and the tree's copy holds no __pycache__.

The compiled code is guarded as well, as far as Python lets a hook see: its code objects are handed only to
the few library functions that read a flag or a signature from them, never to learner code (nor to `dis`,
`gc`, `ctypes` or an extension module from outside the interpreter), and the process is not dumpable, so
no other process of the sandbox reads its memory.
"""
import marshal
import os
import sys
import threading

SENTENCE = ("myapp/consumers.py cannot be read here: the checkpoint's consumers are tried through their "
            "sockets only.")
WATCHED = ("open", "object.__getattr__", "import")
CODE_ATTRIBUTES = {"__code__", "cr_code", "gi_code", "ag_code", "f_code", "gi_frame"}


def not_dumpable():
    """No other process (a child the suite starts, say) may read this one's memory."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError, ImportError):
        pass


def keeper(code):
    """The consumer's code, held in a suspended generator's frame (gi_frame is refused below)."""
    namespace = yield
    while True:
        exec(code, namespace)
        namespace = yield


def trusted_readers():
    """Library functions that may see the consumer's code objects: each returns a flag, a signature or a place."""
    import asyncio.coroutines
    import inspect
    import logging
    import traceback

    return {inspect._has_code_flag.__code__, inspect._signature_from_function.__code__,
            asyncio.coroutines._format_coroutine.__code__, logging.Logger.findCaller.__code__,
            traceback.StackSummary._extract_from_extended_frame_gen.__code__}


def frame_readers():
    """Every function of the libraries that walk frames to report them (pytest's tracebacks, logging, asyncio's
    reprs): they may read a consumer frame's code while no learner code is on the stack, as when pytest reports
    a failure. Known by identity: a filename can be forged, a code object not."""
    import asyncio
    import inspect
    import logging
    import traceback

    import _pytest._code.code
    import _pytest._code.source

    found, todo = set(), []
    for module in (asyncio.base_tasks, asyncio.coroutines, asyncio.format_helpers, asyncio.tasks, inspect, logging,
                   traceback, _pytest._code.code, _pytest._code.source):
        for value in vars(module).values():
            todo += [value, *vars(value).values()] if isinstance(value, type) else [value]
    for value in todo:
        value = getattr(value, "fget", value)
        code = getattr(getattr(value, "__func__", value), "__code__", None)
        stack = [code] if code is not None else []
        while stack:
            code = stack.pop()
            found.add(code)
            stack += [const for const in code.co_consts if isinstance(const, type(code))]
    return found


def guard(hidden, tree, marker, kept):
    hidden = os.path.realpath(hidden)
    prefixes = (os.path.abspath(tree) + os.sep, os.path.realpath(tree) + os.sep)
    interpreter = tuple({os.path.realpath(p) + os.sep for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)})
    readers, walkers = trusted_readers(), frame_readers()
    inside = threading.local()  # per thread: another thread's event must never find the hook "busy"

    def learner_asks(depth):
        """True when learner code is on the stack below `depth` (pytest rendering a traceback, once the test has
        returned, is not a learner reading)."""
        frame = sys._getframe(depth + 1)
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(prefixes) and not name.endswith(os.path.join("myapp", "consumers.py")):
                return True
            frame = frame.f_back
        return False

    def refused(event, args):
        """The reason to refuse this event, or None."""
        if event == "open":
            if not args or isinstance(args[0], int):
                return None
            try:
                path = os.fsdecode(args[0])
            except TypeError:
                return None
            if path.startswith("/proc/") and path.rstrip("/").endswith(("/mem", "/map_files")):
                return "memory"
            return "text" if "consumers" in path and os.path.realpath(path) == hidden else None
        if event == "object.__getattr__" and len(args) == 2 and args[1] in CODE_ATTRIBUTES:
            target = getattr(args[0], args[1], None)
            if args[0] is kept:
                return "code"
            if getattr(target, "co_filename", None) == hidden:
                caller = sys._getframe(2).f_code
                if caller in readers or args[1] == "f_code" and caller in walkers and not learner_asks(2):
                    return None
                return "code"
            return None
        if event.startswith(("gc.get_", "ctypes.")):
            return "memory"
        if event == "import" and len(args) > 1 and isinstance(args[1], str) and args[1]:
            if not os.path.realpath(args[1]).startswith(interpreter):
                return "memory"  # compiled code from the tree or /tmp could read anything in this process
        return None

    def hook(event, args):
        if getattr(inside, "busy", False) or not (event in WATCHED or event.startswith(("gc.get_", "ctypes."))):
            return
        inside.busy = True
        try:
            reason = refused(event, args)
            if reason and learner_asks(1):
                os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o600))
        finally:
            inside.busy = False
        if reason:
            raise PermissionError(SENTENCE)

    sys.addaudithook(hook)


class Consumer:
    """Finds and loads myapp.consumers from the compiled code the checker sent, never from a file."""

    def __init__(self, run, path):
        self.run, self.path = run, path

    def find_spec(self, name, path=None, target=None):
        if name != "myapp.consumers":
            return None
        from importlib.machinery import ModuleSpec
        return ModuleSpec(name, self, origin=self.path)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__file__ = self.path
        self.run.send(module.__dict__)


def main():
    fd, tree, marker, *args = sys.argv[1:]
    hidden = os.path.join(tree, "myapp", "consumers.py")
    if fd != "-":
        not_dumpable()
        with os.fdopen(int(fd), "rb") as handle:
            run = keeper(marshal.loads(handle.read()))
        next(run)
        guard(hidden, tree, marker, run)
        sys.meta_path.insert(0, Consumer(run, hidden))
    sys.path.insert(0, tree)
    sys.argv = ["pytest", *args]
    import pytest

    sys.exit(pytest.main(args))


main()
