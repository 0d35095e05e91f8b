"""Every check's hints, from a nudge to near the answer; and how far a learner has climbed each ladder.

LADDERS is the one home of check hints: stage id, then the check's test
function name (a parametrized check shares its function's ladder). Each rung
says a little more than the one before, and each teaches what the stage's
notebook teaches (the same route, the same channel layer, the same names), so a
hint never sends the learner down a path the lesson did not take. A check with
no ladder falls back to its stage's own hints (kit/catalogue.py).

`kit hint` and `kit.notebook.hint()` climb one rung per call; the rung reached
is kept per stage and check in <project>/.kit/hints.json, with the identity of
the failure it was climbed for (failure_key: the message's template and values,
whatever the language), so a learner picks up where they left off, and a new
failing check, or a new mistake in the same check, starts at its first rung.

A failure whose message names its own cause (a page's script that threw, a
syntax error, a route's wrong keyword ...) gets that cause's ladder
(FAILURE_LADDERS) instead of the check's: the check's usual fix would repeat
code the learner already has.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from .i18n import N_, message_data

LADDERS: dict[str, dict[str, tuple[str, ...]]] = {
    "settings": {
        "test_settings_import": (
            "Python cannot import myproject/settings.py: read the error above, it names the line.",
            "Look for a missing comma or closing bracket in a list you edited, or a quote left open.",
            "Run `python -c \"import myproject.settings\"` from the folder holding manage.py: fix the first "
            "error it prints, save, and check again.",
        ),
        "test_channels_installed": (
            "Channels is a Django app: Django only uses it once it is listed in settings.",
            "INSTALLED_APPS needs one more entry for Channels, after Django's own apps.",
            "Add \"channels\" to INSTALLED_APPS, below the django.contrib apps and above \"myapp\".",
        ),
        "test_daphne_installed_first": (
            "daphne is an app too: it brings a runserver that speaks ASGI.",
            "Django uses the first app that defines a command, and django.contrib.staticfiles has its own "
            "runserver: daphne must come before it.",
            "Make \"daphne\" the very first entry of INSTALLED_APPS.",
        ),
        "test_myapp_installed": (
            "The chat pages, templates and consumer live in the app myapp: Django must still know it.",
            "You may have removed \"myapp\" from INSTALLED_APPS while editing the list.",
            "Keep \"myapp\" in INSTALLED_APPS (the last entry is fine).",
        ),
        "test_asgi_application_setting": (
            "Channels and daphne ask the settings where the ASGI application lives.",
            "ASGI_APPLICATION is a dotted path: the module myproject.asgi, then the variable in it.",
            "ASGI_APPLICATION = \"myproject.asgi.application\"",
        ),
        "test_channel_layers_setting": (
            "Consumers reach each other through a channel layer, which settings choose.",
            "CHANNEL_LAYERS is a dict with a \"default\" entry whose \"BACKEND\" is the dotted path of a layer "
            "class; start with the one that lives in memory.",
            "CHANNEL_LAYERS = {\"default\": {\"BACKEND\": \"channels.layers.InMemoryChannelLayer\"}}",
        ),
        "test_default_layer_works_without_redis": (
            "The default channel layer could not pass a message with no Redis running.",
            "Until the redis stage, keep the layer that lives in memory: it needs no other program. "
            "A Redis layer pointing at 127.0.0.1:6379 fails when nobody started that Redis.",
            "CHANNEL_LAYERS = {\"default\": {\"BACKEND\": \"channels.layers.InMemoryChannelLayer\"}}; the redis "
            "stage chooses Redis only when REDIS_URL is set.",
        ),
    },
    "asgi": {
        "test_asgi_imports": (
            "Python cannot import myproject/asgi.py: read the error above, it names the line.",
            "get_asgi_application() sets Django up: anything that imports myapp (your routing) must come "
            "after that call.",
            "Order: os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"myproject.settings\"), then "
            "django_asgi_app = get_asgi_application(), then the channels and myapp.routing imports.",
        ),
        "test_protocol_type_router": (
            "One door, two kinds of visitors: the application must tell HTTP from WebSocket.",
            "channels.routing.ProtocolTypeRouter reads scope[\"type\"] and picks an app for each protocol.",
            "application = ProtocolTypeRouter({\"http\": django_asgi_app, \"websocket\": "
            "AuthMiddlewareStack(URLRouter(websocket_urlpatterns))})",
        ),
        "test_http_still_served": (
            "The pages must still work: HTTP goes on to Django.",
            "Keep Django's HTTP app as django_asgi_app = get_asgi_application(), called before importing "
            "myapp.routing.",
            "In the ProtocolTypeRouter, map \"http\" to django_asgi_app (the object get_asgi_application() "
            "returned), not to the router or a consumer.",
        ),
        "test_websocket_goes_through_auth": (
            "Consumers should know who is connected, as views know request.user.",
            "channels.auth.AuthMiddlewareStack adds scope[\"user\"]: wrap the websocket app in it.",
            "\"websocket\": AuthMiddlewareStack(URLRouter(websocket_urlpatterns))",
        ),
        "test_websocket_ends_in_url_router": (
            "Sockets are picked by path, like pages: the websocket side needs a router.",
            "Inside AuthMiddlewareStack goes channels.routing.URLRouter, given the list from myapp/routing.py.",
            "from myapp.routing import websocket_urlpatterns, then "
            "\"websocket\": AuthMiddlewareStack(URLRouter(websocket_urlpatterns))",
        ),
    },
    "consumer": {
        "test_accepts_connection": (
            "The socket opens only when the consumer says yes: look at connect().",
            "connect() reads the room from self.scope[\"url_route\"][\"kwargs\"][\"room_name\"], joins the "
            "room's group, then accepts.",
            "async def connect(self): self.room_name = self.scope[\"url_route\"][\"kwargs\"][\"room_name\"]; "
            "self.room_group_name = f\"chat_{self.room_name}\"; await self.channel_layer.group_add("
            "self.room_group_name, self.channel_name); await self.accept()",
        ),
        "test_sender_gets_own_message": (
            "A message goes out to the room and comes back to everyone in it, the sender included.",
            "receive() parses the JSON and group_sends an event of type \"chat.message\"; chat_message(event) "
            "sends it down this socket.",
            "receive(): message = json.loads(text_data)[\"message\"]; await self.channel_layer.group_send("
            "self.room_group_name, {\"type\": \"chat.message\", \"message\": message}). "
            "chat_message(self, event): await self.send(text_data=json.dumps({\"message\": event[\"message\"]}))",
        ),
        "test_everyone_in_room_gets_message": (
            "Only the sender heard the message: the others in the room must hear it too.",
            "self.send() answers this socket alone; the channel layer's group reaches every consumer in the room.",
            "In receive(), call await self.channel_layer.group_send(self.room_group_name, "
            "{\"type\": \"chat.message\", \"message\": message}) instead of self.send(...).",
        ),
        "test_rooms_are_isolated": (
            "A message for one room reached another: rooms must not share a group.",
            "Each room needs a group of its own, named after the room the URL gave.",
            "In connect(): self.room_group_name = f\"chat_{self.room_name}\", and use that name in group_add, "
            "group_send and group_discard.",
        ),
        "test_leaves_group_on_disconnect": (
            "A closed socket stays in its group: the layer keeps filling a dead mailbox.",
            "disconnect() runs when the socket closes, for any reason: leave the group there.",
            "async def disconnect(self, close_code): await self.channel_layer.group_discard("
            "self.room_group_name, self.channel_name)",
        ),
        "test_frames_are_json_with_message_key": (
            "The page reads every frame as JSON with a \"message\" key.",
            "chat_message() must send text: a JSON object whose \"message\" is the text that was sent.",
            "await self.send(text_data=json.dumps({\"message\": event[\"message\"]}))",
        ),
    },
    "routing": {
        "test_chat_path_is_routed": (
            "Sockets to ws/chat/<room>/ find no consumer: myapp/routing.py lists the socket routes.",
            "websocket_urlpatterns works like urlpatterns in urls.py: re_path (or path) from django.urls, "
            "pointing at your consumer.",
            "websocket_urlpatterns = [re_path(r\"^ws/chat/(?P<room_name>[^/]+)/$\", "
            "consumers.ChatConsumer.as_asgi())], with from django.urls import re_path and from . import consumers.",
        ),
        "test_room_names_with_digits_and_underscores": (
            "Some room names are refused: the pattern for the room is too narrow.",
            "Room names such as room_42 hold digits and underscores: let the room part match anything up to "
            "the next slash.",
            "Capture the room as (?P<room_name>[^/]+) (or write path(\"ws/chat/<str:room_name>/\", ...)).",
        ),
        "test_route_passes_room_name": (
            "Two rooms reached the same group: the consumer is not told which room the socket asked for.",
            "The consumer reads scope[\"url_route\"][\"kwargs\"][\"room_name\"]: the route must capture the "
            "room as a keyword named room_name.",
            "re_path(r\"^ws/chat/(?P<room_name>[^/]+)/$\", consumers.ChatConsumer.as_asgi()): the group is "
            "named room_name, and as_asgi() makes one consumer per socket.",
        ),
    },
    "frontend": {
        "test_socket_follows_the_page_address": (
            "The page must open its socket to the server that sent it, whatever its host and port.",
            "Build the URL from window.location: window.location.host is host and port together.",
            "new WebSocket(scheme + \"//\" + window.location.host + \"/ws/chat/\" + "
            "encodeURIComponent(roomName) + \"/\")",
        ),
        "test_https_page_uses_wss": (
            "A page that came over https: must use an encrypted socket.",
            "Choose the scheme from window.location.protocol: wss: for https:, ws: otherwise.",
            "const scheme = window.location.protocol === \"https:\" ? \"wss:\" : \"ws:\";",
        ),
        "test_send_button_sends_json": (
            "Clicking Send must send the text to the consumer.",
            "The consumer expects JSON {\"message\": text}: build it with JSON.stringify.",
            "document.querySelector(\"#chat-message-submit\").onclick = function () { "
            "chatSocket.send(JSON.stringify({message: input.value})); input.value = \"\"; };",
        ),
        "test_room_sees_messages_and_other_rooms_do_not": (
            "Messages that come back from the consumer must show in the chat log.",
            "In chatSocket.onmessage, parse event.data as JSON and add data.message to #chat-log.",
            "chatSocket.onmessage = function (event) { const data = JSON.parse(event.data); "
            "chatLog.value += data.message + \"\\n\"; };",
        ),
        "test_enter_sends": (
            "Pressing Enter in the message box should send, as clicking Send does.",
            "Listen for keys on #chat-message-input and send when the key is Enter.",
            "input.onkeyup = function (event) { if (event.key === \"Enter\") sendMessage(); };",
        ),
        "test_input_is_cleared_after_sending": (
            "After sending, the message box should be empty for the next message.",
            "Empty the input right after chatSocket.send(...).",
            "input.value = \"\"; after chatSocket.send(JSON.stringify({message: input.value}))",
        ),
        "test_messages_are_kept_one_per_line": (
            "Every message should stay in the log, each on a line of its own.",
            "Append to the log instead of replacing it, and end each message with a newline.",
            "chatLog.value += data.message + \"\\n\"; (not chatLog.value = data.message)",
        ),
    },
    "daphne": {
        "test_pages_are_served": (
            "daphne could not serve the chat pages: start it yourself and look.",
            "Run `kit serve` and open /chat/ and /chat/lobby/: the first traceback in daphne's log names the "
            "file to fix.",
            "daphne loads myproject.asgi:application: asgi.py must set DJANGO_SETTINGS_MODULE "
            "(os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"myproject.settings\")) before "
            "get_asgi_application().",
        ),
        "test_clients_in_one_room_all_receive": (
            "Under daphne, clients in one room do not all hear each other.",
            "Every in-process stage (settings, asgi, consumer, routing) should pass first: run "
            "`kit check settings asgi consumer routing`.",
            "Run `kit serve`, open /chat/lobby/ in two browser tabs, send a message, and read daphne's log for "
            "the first traceback.",
        ),
        "test_two_rooms_stay_apart": (
            "Under daphne, a message crossed from one room to another.",
            "Each room needs its own group, named from the room the URL gave.",
            "In connect(): self.room_group_name = f\"chat_{self.room_name}\".",
        ),
        "test_room_survives_a_client_leaving": (
            "When one client leaves, the others should keep chatting.",
            "disconnect() must leave the group and nothing more: it must not raise.",
            "async def disconnect(self, close_code): await self.channel_layer.group_discard("
            "self.room_group_name, self.channel_name)",
        ),
        "test_server_log_has_no_errors": (
            "daphne logged an error while the checks chatted.",
            "Run `kit serve`, chat in two tabs, and read the log: the first traceback names your file and line.",
            "Fix the first traceback in daphne's log, save, restart `kit serve` (daphne does not reload) and "
            "check again.",
        ),
    },
    "redis": {
        "test_settings_choose_redis_when_redis_url_is_set": (
            "With REDIS_URL set, the settings must choose a Redis channel layer.",
            "Read REDIS_URL = os.environ.get(\"REDIS_URL\") in settings.py, and build CHANNEL_LAYERS from it.",
            "if REDIS_URL: CHANNEL_LAYERS = {\"default\": {\"BACKEND\": "
            "\"channels_redis.pubsub.RedisPubSubChannelLayer\", \"CONFIG\": {\"hosts\": [REDIS_URL]}}} "
            "(channels_redis.core.RedisChannelLayer works too, with the hosts "
            "[{\"address\": REDIS_URL, \"socket_timeout\": None}]).",
        ),
        "test_settings_stay_in_memory_without_redis_url": (
            "Without REDIS_URL the project must still run, with no Redis at all.",
            "Keep the in-memory layer for when REDIS_URL is not set.",
            "else: CHANNEL_LAYERS = {\"default\": {\"BACKEND\": \"channels.layers.InMemoryChannelLayer\"}}",
        ),
        "test_message_crosses_from_one_worker_to_the_other": (
            "Two daphne workers do not hear each other: each is an island with an in-memory layer.",
            "Both workers get the same REDIS_URL: with it set, CHANNEL_LAYERS must point at that Redis.",
            "if REDIS_URL: CHANNEL_LAYERS = {\"default\": {\"BACKEND\": "
            "\"channels_redis.pubsub.RedisPubSubChannelLayer\", \"CONFIG\": {\"hosts\": [REDIS_URL]}}}",
        ),
        "test_rooms_stay_apart_across_workers": (
            "On Redis, a message crossed from one room to another.",
            "Groups live in Redis now, shared by every worker: each room still needs its own group.",
            "In connect(): self.room_group_name = f\"chat_{self.room_name}\".",
        ),
        "test_room_survives_a_client_leaving": (
            "On Redis, the room broke when one client left.",
            "A client that leaves must leave its group on Redis too.",
            "async def disconnect(self, close_code): await self.channel_layer.group_discard("
            "self.room_group_name, self.channel_name)",
        ),
        "test_a_quiet_room_still_delivers": (
            "A room went quiet for a few seconds and its sockets were closed: the Redis client of a "
            "RedisChannelLayer with hosts [REDIS_URL] gives up on a quiet read after redis-py's 5 s socket_timeout. "
            "Give it the hosts [{\"address\": REDIS_URL, \"socket_timeout\": None}], or use "
            "channels_redis.pubsub.RedisPubSubChannelLayer.",
            "Run two workers yourself with REDIS_URL set, connect to a room and wait ten seconds: the log shows "
            "'Timeout reading from ...' and the sockets close with code 1011.",
            "if REDIS_URL: CHANNEL_LAYERS = {\"default\": {\"BACKEND\": \"channels_redis.core.RedisChannelLayer\", "
            "\"CONFIG\": {\"hosts\": [{\"address\": REDIS_URL, \"socket_timeout\": None}]}}}, or the "
            "lesson's channels_redis.pubsub.RedisPubSubChannelLayer with hosts [REDIS_URL].",
        ),
        "test_worker_logs_have_no_errors": (
            "A worker logged an error while the checks chatted across Redis.",
            "Run two workers yourself (the notebook shows how) with REDIS_URL set and read both logs.",
            "Fix the first traceback in the workers' logs: often a layer that is not "
            "channels_redis.pubsub.RedisPubSubChannelLayer or channels_redis.core.RedisChannelLayer, or hosts "
            "that are not [REDIS_URL].",
        ),
    },
    "hardening": {
        "test_bad_frame_is_refused": (
            "Never trust a frame: some frames are not the chat message your consumer expects.",
            "Check every frame before relaying it: JSON, an object, a \"message\" that is non-blank text; "
            "and accept bytes_data, because a binary frame has no text_data.",
            "receive(self, text_data=None, bytes_data=None): parse inside try/except ValueError; if the frame "
            "is not a dict with a non-blank str \"message\", await self.send(text_data=json.dumps({\"error\": "
            "\"...\"})) and return, without group_send.",
        ),
        "test_oversized_message_is_refused": (
            "Nothing limits how long a message may be.",
            "Put the limit in settings (CHAT_MAX_MESSAGE_LENGTH = 2000) and read it in the consumer with "
            "from django.conf import settings.",
            "if len(message) > settings.CHAT_MAX_MESSAGE_LENGTH: send {\"error\": \"...\"} to the sender and "
            "do not group_send; a message of exactly the limit still goes out.",
        ),
        "test_flood_is_limited": (
            "One socket may send as fast as it likes, and the room gets all of it.",
            "Give each socket a budget, a token bucket made in connect(): CHAT_RATE_LIMIT tokens, refilled "
            "at CHAT_RATE_LIMIT a second, one spent per relayed message.",
            "self.rate_limit = RateLimit(settings.CHAT_RATE_LIMIT) in connect(); in receive(), if not "
            "self.rate_limit.allow(): send {\"error\": \"...\"} and return (CHAT_RATE_LIMIT = 10 in settings).",
        ),
        "test_odd_room_name_is_safe": (
            "A room name a group cannot hold (Bengali, very long, punctuation) breaks the room.",
            "Group names allow only ASCII letters, digits, '-', '_' and '.', under 100 characters; "
            "stripping or truncating makes different rooms share a group.",
            "Readable names keep f\"chat_{room_name}\"; any other name becomes "
            "\"chat-\" + hashlib.sha256(room_name.encode(\"utf-8\")).hexdigest().",
        ),
        "test_foreign_origin_is_refused_in_process": (
            "A page on another site can open a socket to your chat as your visitor.",
            "The handshake's Origin header names the page's site: compare it with ALLOWED_HOSTS in asgi.py.",
            "\"websocket\": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))), "
            "with from channels.security.websocket import AllowedHostsOriginValidator.",
        ),
        "test_live_bad_frames_are_refused_without_tracebacks": (
            "Under daphne, a bad frame crashed the consumer or reached the room.",
            "Run `kit serve`, send it the notebook's bad frames, and read daphne's log.",
            "Answer every frame you will not relay with {\"error\": \"...\"} to the sender, inside try/except: "
            "no traceback, socket left open.",
        ),
        "test_live_foreign_origin_is_refused": (
            "Under daphne, a socket from a foreign page was accepted.",
            "AllowedHostsOriginValidator refuses a handshake whose Origin is not in ALLOWED_HOSTS.",
            "asgi.py: \"websocket\": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(...))); "
            "ALLOWED_HOSTS names 127.0.0.1.",
        ),
        "test_live_odd_room_name": (
            "Under daphne, a room named in Bengali or a very long name fails.",
            "The route must let any name through (\\w+ does not match Bengali vowel signs), and the consumer "
            "must map it to a valid group.",
            "routing.py: re_path(r\"^ws/chat/(?P<room_name>[^/]+)/$\", ...); consumer: "
            "\"chat-\" + hashlib.sha256(room_name.encode(\"utf-8\")).hexdigest() for names a group cannot hold.",
        ),
        "test_live_flood_does_not_silence_others": (
            "Under daphne, one client's flood silenced the room.",
            "Each socket gets its own budget: make the token bucket in connect(), not at module level.",
            "Refuse messages beyond CHAT_RATE_LIMIT a second with {\"error\": \"...\"}; other sockets keep their "
            "own budget.",
        ),
        "test_html_in_a_message_is_shown_as_text": (
            "A message holding HTML became part of the page.",
            "Show what users type as text, never as HTML.",
            "chatLog.value += data.message + \"\\n\" (a textarea) or element.textContent = data.message; never "
            "innerHTML or insertAdjacentHTML.",
        ),
    },
    "push": {
        "test_send_to_room_reaches_the_room": (
            "A room's sockets listen to the room's group on the channel layer: send the message there.",
            "group_send is a coroutine function; from sync code it runs through asgiref.sync.async_to_sync.",
            "In myapp/push.py: async_to_sync(get_channel_layer().group_send)(group, {\"type\": \"chat.message\", "
            "\"message\": text}), with group named as the consumer names it.",
        ),
        "test_send_to_room_reaches_a_bengali_room": (
            "A Bengali room name cannot be a group name as it is: the consumer maps it.",
            "send_to_room must use the very same mapping, or it writes to a group nobody joined.",
            "Import the consumer's mapping (group_name in the solution) into myapp/push.py and call it on "
            "room_name.",
        ),
        "test_announce_command_reaches_the_room": (
            "Django finds a command in myapp/management/commands/<name>.py, in a class named Command.",
            "Command(BaseCommand): add_arguments() declares room and text; handle() receives them.",
            "handle(self, *args, room, text, **options) calls send_to_room(room, text); the command reaches "
            "daphne's sockets only with REDIS_URL set, over Redis.",
        ),
        "test_staff_announce_view_reaches_only_its_room": (
            "The checks POST a form field `message` to /chat/<room>/announce/ as a logged-in staff user.",
            "Add path(\"<str:room_name>/announce/\", views.announce, name=\"announce\") to myapp/urls.py.",
            "announce(request, room_name) reads request.POST[\"message\"], calls send_to_room(room_name, ...), "
            "and answers with a redirect to the room (or 204); keep Django's CSRF check.",
        ),
        "test_announce_view_refuses_anyone_but_staff": (
            "Anyone can POST to a URL: the view itself must decide who may announce.",
            "request.user is AnonymousUser for a visitor who is not logged in; staff users have is_staff.",
            "Begin the view with: if not (request.user.is_authenticated and request.user.is_staff): return "
            "HttpResponseForbidden().",
        ),
    },
    "users": {
        "test_each_message_carries_its_authors_name": (
            "The frames your consumer relays do not say who sent them.",
            "The socket's user is self.scope[\"user\"] (AuthMiddlewareStack in asgi.py reads the session "
            "cookie); its name is self.scope[\"user\"].get_username().",
            "In receive(): group_send(group, {\"type\": \"chat.message\", \"message\": message, \"author\": "
            "self.scope[\"user\"].get_username()}); in chat_message(): send {\"message\": event[\"message\"], "
            "\"author\": event[\"author\"]}.",
        ),
        "test_client_cannot_choose_the_author": (
            "A client can claim to be anyone by putting a name in its frame.",
            "Read only data[\"message\"] from the client's frame; the author comes from the server's side.",
            "Never use data.get(\"author\"): the author is self.scope[\"user\"].get_username(), whatever the "
            "frame says.",
        ),
        "test_anonymous_socket_cannot_post": (
            "Someone who is not logged in can still post to the room.",
            "self.scope[\"user\"].is_authenticated is False for an anonymous socket: refuse it in connect(), "
            "or let it read and refuse its posts.",
            "In receive(): if not self.scope[\"user\"].is_authenticated: await self.send(text_data=json.dumps("
            "{\"error\": \"Log in to post.\"})) and return, before group_send (or self.close() in connect()).",
        ),
        "test_login_page_answers": (
            "There is no login page yet, or it shows no form to log in with.",
            "Django ships the views: path(\"accounts/\", include(\"django.contrib.auth.urls\")) in "
            "myproject/urls.py gives accounts/login/.",
            "LoginView renders registration/login.html: a <form method=\"post\"> with {% csrf_token %}, "
            "{{ form.as_p }} and a submit button, in myapp/templates/registration/login.html.",
        ),
        "test_a_wrong_password_or_an_unknown_name_logs_no_one_in": (
            "Your login page logs people in without checking their password.",
            "Django's LoginView checks the username and password for you: path(\"accounts/\", "
            "include(\"django.contrib.auth.urls\")) in myproject/urls.py, the form in "
            "myapp/templates/registration/login.html.",
            "In a login view of your own: user = authenticate(request, username=..., password=...); when it is "
            "None, show the form again; login(request, user) only with the user it returned. Never "
            "get_or_create() a user from the form.",
        ),
        "test_two_people_side_by_side_see_each_others_names": (
            "The room page does not show who wrote each message.",
            "Each frame now carries data.author next to data.message: put both on the message's line.",
            "In onmessage: chatLog.value += data.author + \": \" + data.message + \"\\n\"; (and log in "
            "through accounts/login/ to try it: an anonymous page cannot post).",
        ),
    },
    "history": {
        "test_the_message_model_has_its_migration": (
            "The database has no table for the chat's messages yet.",
            "Write class Message(models.Model) in myapp/models.py with room, author, text and created; a model "
            "becomes a table through a migration.",
            "room = CharField(max_length=200, db_index=True), author = ForeignKey(settings.AUTH_USER_MODEL, "
            "on_delete=models.CASCADE, related_name=\"messages\"), text = TextField(), created = "
            "DateTimeField(auto_now_add=True); then `python manage.py makemigrations myapp` and keep "
            "myapp/migrations/0001_initial.py.",
        ),
        "test_a_message_sent_is_history_for_a_later_joiner": (
            "Someone who joins a room later does not see what was said before.",
            "Two changes to the consumer: save each message you relay, and send the room's saved messages to a "
            "socket when it connects.",
            "@database_sync_to_async def save(self, text): Message.objects.create(room=self.room_name, "
            "author=self.scope[\"user\"], text=text); await it in receive() before group_send; in connect(), "
            "after accept(), send each saved message with self.send().",
        ),
        "test_history_comes_oldest_first": (
            "The history arrives in the wrong order.",
            "A chat log reads top to bottom: the oldest message of the history comes first.",
            "newest = Message.objects.filter(room=...).order_by(\"-created\")[:50]; send list(reversed(newest)).",
        ),
        "test_history_stays_in_its_room": (
            "A socket that joins one room is sent messages from another.",
            "The history query must name the room the socket joined.",
            "Message.objects.filter(room=self.room_name): the room name from self.scope[\"url_route\"][\"kwargs\"].",
        ),
        "test_a_joiner_gets_exactly_the_last_50": (
            "A socket that joins a busy room is not sent exactly its last 50 messages.",
            "Only the newest HISTORY_LENGTH = 50 messages are sent: a slice of the QuerySet becomes SQL's LIMIT.",
            "order_by(\"-created\")[:HISTORY_LENGTH] gives the newest fifty; reversed(...) puts them oldest "
            "first. order_by(\"created\")[:50] would give the oldest fifty instead.",
        ),
        "test_each_history_message_keeps_its_author": (
            "A replayed message does not name the person who wrote it.",
            "Each saved Message has its author: send that name, not the joining socket's.",
            "Load the authors in the same query with select_related(\"author\") inside the worker thread, then "
            "send {\"message\": m.text, \"author\": m.author.get_username(), \"history\": True}.",
        ),
        "test_history_comes_before_live_messages_and_is_marked": (
            "A joining socket cannot tell the history from live messages, or gets them in the wrong order, or "
            "the room gets the joiner's history.",
            "Send the history inside connect(), after accept(), with self.send(): the room's live messages wait "
            "in this consumer's channel until connect() returns.",
            "Each history frame is {\"message\": ..., \"author\": ..., \"history\": True}, sent with "
            "self.send() (never group_send); live frames stay {\"message\": ..., \"author\": ...}.",
        ),
        "test_a_slow_query_does_not_freeze_other_sockets": (
            "A query in your consumer runs on the event loop: while it waits, every socket waits.",
            "Async code reaches the database only through a worker thread: channels.db.database_sync_to_async.",
            "Put each query in a method decorated @database_sync_to_async (evaluate it there: list(...)) and "
            "await it; never set DJANGO_ALLOW_ASYNC_UNSAFE, never call the ORM straight from an async method.",
        ),
    },
    "testing": {
        "test_your_tests_pass_on_a_correct_consumer": (
            "The checkpoint runs your tests on consumers of its own: each follows the chat's contract in its own "
            "style, so a test may rely on what a consumer does, never on how it is written.",
            "Reach the consumer only through sockets: WebsocketCommunicator(URLRouter(websocket_urlpatterns), "
            "'/ws/chat/lobby/'); import nothing else from myapp/consumers.py.",
            "Run each test's scenario with asyncio.run(...) in a plain test function, set socket.scope['user'] to a "
            "saved user (await database_sync_to_async(User.objects.get_or_create)(username='alice')) before "
            "connect(), and give receive_from() a timeout.",
        ),
        "test_your_tests_catch_a_broken_consumer": (
            "The failure names a broken consumer on which every one of your tests passed.",
            "Write the test that would notice that mistake: which socket should have received what, or not?",
            "One test per promise: the sender hears its message, a second socket in the room hears it, a socket "
            "in another room does not (receive_nothing()), the layer's groups are empty after disconnect(), a "
            "frame that is not JSON gets {\"error\": ...}, a Bengali room works.",
        ),
    },
}

# Ladders for a failure that names its own cause, whichever check it happens in, keyed by its message's
# template (kit/i18n.py T): there the check's usual fix would repeat code the learner already has.
PAGE_ERROR = "{error} Fix it first (the rest of that script never ran); the check then saw: {failure}"
SYNTAX_ERROR = "{doing}: syntax error in {place}: {error}"
SYNTAX_ERROR_WITH_CODE = "{doing}: syntax error in {place}: {error}\n    {code}"
INDENT_ERROR = ("{doing}: syntax error in {place}: {error}. That line starts with {spaces} spaces, the code line "
                "above it with {above}: the lines of one block start with the same number (in a class, a method's "
                "def with 4 and its body with 8). Pasted code? Put the cursor at the very start of an empty line "
                "before you paste: the editor may have indented that line already. The line, a dot for each "
                "space:\n    {code}")
ROUTE_KEYWORD = "the route must capture a keyword argument named room_name."
FIXED_REDIS = ("With REDIS_URL={url}, the layer's CONFIG is {config}: "
               "its hosts must come from REDIS_URL, not a fixed address.")
SYNC_NEVER_AWAITED = ("{place}: coroutine {name}() was never awaited. {function}() is a sync method (def), where "
                      "await cannot be used: call it as async_to_sync({call})(...), with "
                      "from asgiref.sync import async_to_sync.")
_SYNTAX = (
    N_("Python could not read the file the message names: the mistake is on that line or just before it, and "
       "nothing else in the file can run until it is fixed."),
    N_("Look for a missing colon at the end of a def, if or for line, a bracket or quote left open, or a line "
       "indented differently from its neighbours."),
    N_("Run `python -m py_compile` on that file from the folder holding manage.py: fix the first error it "
       "prints, save, and check again."),
)
FAILURE_LADDERS: dict[str, tuple[str, ...]] = {
    SYNTAX_ERROR: _SYNTAX,
    SYNTAX_ERROR_WITH_CODE: _SYNTAX,
    INDENT_ERROR: _SYNTAX,
    ROUTE_KEYWORD: (
        N_("The socket found your consumer and crashed in it: the route matched, but gave the room to the consumer "
           "under another name."),
        N_("The name inside (?P<...>) (or <str:...>) becomes the key of self.scope[\"url_route\"][\"kwargs\"], "
           "and the consumer reads the key room_name."),
        N_("re_path(r\"^ws/chat/(?P<room_name>[^/]+)/$\", consumers.ChatConsumer.as_asgi()), or "
           "path(\"ws/chat/<str:room_name>/\", consumers.ChatConsumer.as_asgi())."),
    ),
    FIXED_REDIS: (
        N_("Your settings do choose Redis, but always at the same address: the address to use comes in REDIS_URL, "
           "from the kit here and from the server in production."),
        N_("Read REDIS_URL = os.environ.get(\"REDIS_URL\") in settings.py and put that URL in the layer's "
           "CONFIG hosts, instead of a fixed host and port."),
        N_("if REDIS_URL: CHANNEL_LAYERS = {\"default\": {\"BACKEND\": "
           "\"channels_redis.pubsub.RedisPubSubChannelLayer\", \"CONFIG\": {\"hosts\": [REDIS_URL]}}}"),
    ),
    SYNC_NEVER_AWAITED: (
        N_("A coroutine was made and never run: in a sync consumer (def methods) a channel layer call does nothing "
           "by itself."),
        N_("In a WebsocketConsumer, every self.channel_layer call goes through asgiref.sync.async_to_sync, which "
           "runs it to the end."),
        N_("async_to_sync(self.channel_layer.group_send)(self.group, {\"type\": \"chat.message\", \"message\": "
           "message}); the same for group_add and group_discard."),
    ),
    PAGE_ERROR: (
        N_("The browser stopped your page's script at the line the message names: whatever comes after it in "
           "that script (or in that handler) never ran, so the check could not see it work."),
        N_("'... is not defined' means the name is not visible where that line runs: a const made inside a "
           "function, or written only in a comment, does not exist outside it. Define the name once near the top "
           "of the <script>, before the code that uses it."),
        N_("Open the room page with your browser's developer tools (F12, Console): the same error is there with "
           "its line. Fix it, reload the page until the Console stays clean, then check again."),
    ),
}

STATE_FILE = Path(".kit") / "hints.json"


def ladder_for(stage_id: str, test_name: str, template: dict | None = None) -> tuple[str, ...] | None:
    """The failure's own ladder when its message has one (FAILURE_LADDERS), else the check's, else None."""
    return _own_ladder(template) or LADDERS.get(stage_id, {}).get(check_name(test_name))


def _own_ladder(data) -> tuple[str, ...] | None:
    """The ladder of the first template in the message (itself, then its values, in order) that has one."""
    if not isinstance(data, dict):
        return None
    if "join" in data:
        parts = [p["t"] for p in data.get("parts", []) if isinstance(p, dict) and "t" in p]
    else:
        if data.get("template") in FAILURE_LADDERS:
            return FAILURE_LADDERS[data["template"]]
        parts = [v["t"] for v in (data.get("params") or {}).values() if isinstance(v, dict) and "t" in v]
    return next((found for found in map(_own_ladder, parts) if found), None)


def _shape(data) -> str:
    """A message's identity: its template and values, numbers left out (a port, a wait, a line that moved)."""
    if isinstance(data, dict) and "join" in data:
        return " ".join(_shape(p["t"]) if isinstance(p, dict) and "t" in p else _shape(p) for p in data["parts"])
    if isinstance(data, dict) and "template" in data:
        values = [f"{k}={_shape(v['t']) if isinstance(v, dict) and 't' in v else _shape(v)}"
                  for k, v in sorted((data.get("params") or {}).items())]
        return data["template"] + "|" + ",".join(values)
    return re.sub(r"\d+", "#", str(data))[:300]


def failure_key(message: str | None, template: dict | None = None) -> str:
    """The failure's identity, the same in every language: the ladder starts again when it changes."""
    data = template if isinstance(template, dict) else message_data(message)
    shape = _shape(data) if data else _shape(message or "")
    return hashlib.sha256(shape.encode("utf-8")).hexdigest()[:16]


def check_name(test_name: str) -> str:
    """A check's function name: 'test_bad_frame_is_refused[not-json]' -> 'test_bad_frame_is_refused'."""
    name = test_name.split("::")[-1]
    return re.sub(r"\[.*\]$", "", name)


def _load(project: Path) -> dict:
    from .nofollow import read_text_inside

    try:
        data = json.loads(read_text_inside(project, str(STATE_FILE)) or "")   # never through a planted link
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def next_rung(project: Path, stage_id: str, test_name: str, ladder: tuple[str, ...],
              failure: str | None = None) -> int:
    """The rung to show now (0-based), recorded so the next call shows the one after; the last repeats.

    failure is the failure's identity (failure_key): a different failure of the same check starts
    again at the first rung."""
    state = _load(project)
    check = check_name(test_name)
    kept = state.get(stage_id, {}).get(check, 0)
    if isinstance(kept, dict):
        climbed = kept.get("rung", 0) if kept.get("failure") == failure else 0
    else:  # the old record (a bare number) knew no failure
        climbed = kept if failure is None else 0
    rung = min(climbed if isinstance(climbed, int) and climbed >= 0 else 0, len(ladder) - 1)
    state.setdefault(stage_id, {})[check] = {"rung": rung + 1, "failure": failure}
    from .nofollow import linked_inside

    path = project / STATE_FILE
    if linked_inside(project, str(STATE_FILE)):
        return rung   # a planted link is never written through: the hint is shown, the climb not kept
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    except OSError:
        pass  # a read-only tree still gets its hint, it just starts over next time
    return rung
