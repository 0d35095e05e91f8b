from django.http import HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .push import send_to_room


def index(request):
    """The page where you pick a room."""
    return render(request, "myapp/index.html")


def room(request, room_name):
    """The chat room page; its JavaScript opens the WebSocket."""
    return render(request, "myapp/room.html", {"room_name": room_name})


@require_POST
def announce(request, room_name):
    """Staff post a `message` here and every socket in the room receives it."""
    if not (request.user.is_authenticated and request.user.is_staff):
        # 403 for anonymous visitors too: there is no login form to send them to.
        return HttpResponseForbidden("Only staff may announce.")
    text = request.POST.get("message", "")
    if not text.strip():
        return HttpResponseBadRequest("Post a non-empty 'message'.")
    send_to_room(room_name, text)
    return redirect("room", room_name=room_name)
