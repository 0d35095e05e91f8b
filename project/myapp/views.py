from django.shortcuts import render


def index(request):
    """The page where you pick a room."""
    return render(request, "myapp/index.html")


def room(request, room_name):
    """The chat room page; its JavaScript opens the WebSocket."""
    return render(request, "myapp/room.html", {"room_name": room_name})


# TODO(push): announce(request, room_name): staff POST a `message` here and every socket in the
# room receives it (myapp/push.py's send_to_room); anyone else gets 403 (HttpResponseForbidden).
