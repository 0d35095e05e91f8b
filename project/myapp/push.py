"""Send to a chat room from ordinary, synchronous Django code: a view, a signal, a management command."""


def send_to_room(room_name: str, text: str) -> None:
    """TODO(push): every socket in room_name receives {"message": text}.

    - get the layer with channels.layers.get_channel_layer();
    - name the group exactly as myapp/consumers.py does (import its mapping);
    - call layer.group_send(group, {"type": "chat.message", "message": text})
      through asgiref.sync.async_to_sync: group_send is a coroutine function.
    """
    raise NotImplementedError("TODO(push): write send_to_room in myapp/push.py")
