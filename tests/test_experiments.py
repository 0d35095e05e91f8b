"""Experiment cells explain the learner's mistakes as checkpoints do (issue 24, point 8).

A lesson cell that drives the learner's consumer (lesson 03's WebsocketCommunicator
experiment) used to end in a 79-line traceback for a misspelled event type. With
kit.notebook imported, IPython shows two lines from kit/grading/explain.py instead: what
went wrong, where in the tree, the likely cause; then what to do. A typo in the cell
itself keeps Python's own traceback. Run in a child process: IPython's shell and
Django's set-up are once per process.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

from classic import classic_tree
from conftest import KIT_ROOT

SCRIPT = textwrap.dedent('''\
    import asyncio, os, sys
    os.environ["KIT_PROJECT"] = sys.argv[1]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)   # the kernel's loop, as in JupyterLab
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    cells = [
        """
    import asyncio
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator
    from django.urls import path
    from kit.notebook import load, use_project
    use_project()
    consumers = load("myapp.consumers")
    app = URLRouter([path("ws/chat/<str:room_name>/", consumers.ChatConsumer.as_asgi())])
    """,
        """
    async def talk():
        sock = WebsocketCommunicator(app, "/ws/chat/lobby/")
        await sock.connect(timeout=5)
        await sock.send_json_to({"message": "hi"})
        await sock.receive_nothing(timeout=0.5)
        await sock.disconnect()
    asyncio.get_event_loop().run_until_complete(talk())
    """,
        "print('MARK'); name_the_cell_never_defined",
    ]
    for cell in cells:
        shell.run_cell(cell)
''')


def test_a_misspelled_event_type_is_explained_in_two_lines(tmp_path):
    tree = classic_tree(tmp_path / "classic")
    consumer = tree / "myapp/consumers.py"
    consumer.write_text(consumer.read_text().replace('"type": "chat.message"', '"type": "chat_mesage"'))
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tree)], capture_output=True, text=True, timeout=120,
                          cwd=KIT_ROOT)
    output = done.stdout + done.stderr
    mistake, _, cell_typo = output.partition("MARK")
    said = [line for line in mistake.splitlines() if line.strip() and "Django is set up" not in line]
    assert len(said) == 2, output
    assert "No handler for message type chat_mesage at myapp/consumers.py, line" in said[0], output
    assert "chat_message(self, event)" in said[0] and "run this cell again" in said[1], output
    assert "Traceback" not in mistake and "never retrieved" not in mistake, output
    # A mistake in the cell itself is Python's own, shown as usual.
    assert "NameError" in cell_typo and "Traceback" in cell_typo, output


def test_daphnes_never_awaited_warning_is_said_as_the_fix(tmp_path):
    """daphne's log holds only Python's warning (and its tracemalloc advice) for a sync consumer that calls the
    layer without async_to_sync: the clue says what to write, never the tracemalloc line."""
    from kit.grading.explain import Places

    tree = classic_tree(tmp_path / "classic")
    consumer = tree / "myapp/consumers.py"
    consumer.write_text("from channels.generic.websocket import WebsocketConsumer\n\n\n"
                        "class ChatConsumer(WebsocketConsumer):\n"
                        "    def receive(self, text_data=None, bytes_data=None):\n"
                        "        self.channel_layer.group_send('g', {'type': 'chat.message'})\n", encoding="utf-8")
    log = (f"{consumer}:6: RuntimeWarning: coroutine 'InMemoryChannelLayer.group_send' was never awaited\n"
           "  self.channel_layer.group_send('g', {'type': 'chat.message'})\n"
           "RuntimeWarning: Enable tracemalloc to get the object allocation traceback\n")
    clue = Places(tree).server_clue(log)
    assert clue.startswith("myapp/consumers.py, line 6 (in receive): coroutine group_send() was never awaited"), clue
    assert "async_to_sync(self.channel_layer.group_send)(...)" in clue and "tracemalloc" not in clue, clue
    assert not Places(tree).contains("<frozen importlib._bootstrap>")
