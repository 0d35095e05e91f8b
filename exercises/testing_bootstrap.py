"""The first code of every run of a learner's suite in the `testing` checkpoint, before any learner code.

Not imported by the checker: its text is handed to `python -I -B -c` inside the sandbox, so nothing in the
learner's tree (a sitecustomize.py, a .pth, PYTHONPATH) runs before it. Arguments:
    RELAY ADDRESS TREE MARKER PYTEST-ARGS...
RELAY ("-" for none: the learner's own consumer, imported as usual) is the path of kit/services/relay.py, loaded by
file under a private name before the tree is on sys.path, so no folder of the tree can stand in for it.
`myapp.consumers` is then made by a finder placed first on sys.meta_path: a module whose ChatConsumer is
the relay's stand-in, talking to the consumer under test on the Unix socket ADDRESS. The consumer runs in
a process of its own (kit/services/relay.py): this process holds none of its code, so there is nothing here to
read. myapp/consumers.py in the tree is a stub; a suite that opens it anyway is told so in plain words
(an audit hook, which Python never lets anyone remove, refuses the open and creates MARKER).
"""
import importlib.util
import os
import sys

SENTENCE = ("myapp/consumers.py cannot be read here: the checkpoint's consumers are tried through their "
            "sockets only.")


def load_relay(path):
    spec = importlib.util.spec_from_file_location("kit_testing_relay", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def guard(stub, marker):
    """Opening the stub (its text, inspect, linecache) is refused and noted: what the suite meant to read runs
    elsewhere."""
    stub = os.path.realpath(stub)

    def hook(event, args):
        if event != "open" or not args or isinstance(args[0], int):
            return
        try:
            path = os.fsdecode(args[0])
        except TypeError:
            return
        if "consumers" in path and os.path.realpath(path) == stub:
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o600))
            raise PermissionError(SENTENCE)

    sys.addaudithook(hook)


class Consumers:
    """Finds myapp.consumers: the stand-in, never a file."""

    def __init__(self, stand_in, path):
        self.stand_in, self.path = stand_in, path

    def find_spec(self, name, path=None, target=None):
        if name != "myapp.consumers":
            return None
        from importlib.machinery import ModuleSpec
        return ModuleSpec(name, self, origin=self.path)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__file__ = self.path
        module.ChatConsumer = type("ChatConsumer", (self.stand_in,), {"__module__": "myapp.consumers"})
        self.stand_in.wait_until_served()


def main():
    relay, address, tree, marker, *args = sys.argv[1:]
    stub = os.path.join(tree, "myapp", "consumers.py")
    if relay != "-":
        stand_in = load_relay(relay).StandIn
        stand_in.address = address
        guard(stub, marker)
        sys.meta_path.insert(0, Consumers(stand_in, stub))
    sys.path.insert(0, tree)
    sys.argv = ["pytest", *args]
    import pytest

    sys.exit(pytest.main(args))


main()
