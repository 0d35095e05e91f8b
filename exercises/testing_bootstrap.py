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
"""
import marshal
import os
import sys


def refuse_reading(hidden, tree, marker):
    hidden = os.path.realpath(hidden)
    prefixes = (os.path.abspath(tree) + os.sep, os.path.realpath(tree) + os.sep)
    busy = []

    def learner_asks():
        """True when learner code is on the stack (pytest rendering a traceback is not a learner reading)."""
        frame = sys._getframe(2)
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(prefixes) and not name.endswith(os.path.join("myapp", "consumers.py")):
                return True
            frame = frame.f_back
        return False

    def hook(event, args):
        if event != "open" or busy or not args or isinstance(args[0], int):
            return
        busy.append(1)
        try:
            try:
                path = os.fsdecode(args[0])
            except TypeError:
                return
            if "consumers" not in path or os.path.realpath(path) != hidden:
                return
            if learner_asks():
                os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o600))
        finally:
            busy.pop()
        raise PermissionError("myapp/consumers.py cannot be read here: the checkpoint's consumers are "
                              "tried through their sockets only.")

    sys.addaudithook(hook)


class Consumer:
    """Finds and loads myapp.consumers from the compiled code the checker sent, never from a file."""

    def __init__(self, code, path):
        self.code, self.path = code, path

    def find_spec(self, name, path=None, target=None):
        if name != "myapp.consumers":
            return None
        from importlib.machinery import ModuleSpec
        return ModuleSpec(name, self, origin=self.path)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__file__ = self.path
        exec(self.code, module.__dict__)


def main():
    fd, tree, marker, *args = sys.argv[1:]
    code = None
    if fd != "-":
        with os.fdopen(int(fd), "rb") as handle:
            code = marshal.loads(handle.read())
    hidden = os.path.join(tree, "myapp", "consumers.py")
    if code is not None:
        refuse_reading(hidden, tree, marker)
        sys.meta_path.insert(0, Consumer(code, hidden))
    sys.path.insert(0, tree)
    sys.argv = ["pytest", *args]
    import pytest

    sys.exit(pytest.main(args))


main()
