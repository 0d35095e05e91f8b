from django.shortcuts import render


def index(request):
    """The page where you pick a room."""
    return render(request, "myapp/index.html")


def room(request, room_name):
    """The chat room page; its JavaScript opens the WebSocket."""
    return render(request, "myapp/room.html", {"room_name": room_name})
