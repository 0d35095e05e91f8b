"""A method pasted one level too deep: the message says how many spaces each line has, and shows them.

The newcomer's walkthrough: JupyterLab's editor indents a new line inside a method, the lesson's block
starts with 4 spaces, and the pasted `receive()` lands at 12. The old message quoted the line stripped of
its spaces, so it looked right."""
from __future__ import annotations

from kit.course import hints
from kit.grading.explain import Places

CLASS = '''class ChatConsumer:
    async def connect(self):
        await self.accept()

            async def receive(self, text_data=None):
                pass
'''


def explained(tmp_path, text: str) -> str:
    module = tmp_path / "myapp" / "consumers.py"
    module.parent.mkdir()
    module.write_text(text)
    try:
        compile(text, str(module), "exec")
    except SyntaxError as exc:
        return Places(tmp_path).explain(exc, "Importing myapp.consumers failed")
    raise AssertionError("the text compiled")


def test_a_method_pasted_too_deep_is_shown_with_its_spaces(tmp_path):
    message = explained(tmp_path, CLASS)
    assert "line 5" in message and "starts with 12 spaces, the code line above it with 8" in message, message
    assert "············async def receive" in message
    assert message.data()["template"] == hints.INDENT_ERROR   # its hint ladder is the syntax errors'


def test_other_syntax_errors_keep_their_message(tmp_path):
    message = explained(tmp_path, "def f()\n    pass\n")
    assert "syntax error in myapp/consumers.py, line 1" in message and "spaces" not in message
