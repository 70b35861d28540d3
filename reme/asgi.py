"""ASGI entry point for Daphne: HTTP through Django, WebSocket through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reme.settings.local")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from chat.scoring import warm_up  # noqa: E402
from reme.bodylimit import RequestBodyLimit, install_daphne_guard  # noqa: E402
from reme.gctune import gc_tune  # noqa: E402
from reme.routing import websocket_urlpatterns  # noqa: E402

if settings.CHAT_SCORER_WARM_UP:
    # The scorer's embedding model loads in the background, not inside the first trainee's turn; then what the
    # process loaded is frozen out of the garbage collector's way (reme/gctune.py).
    scorer_ready = warm_up()
    if settings.SERVER_GC_TUNE:
        gc_tune(after=scorer_ready)

body_limit = RequestBodyLimit(
    django_asgi_app,
    limit=settings.REQUEST_MAX_BODY_BYTES,
    anonymous_limit=settings.ANONYMOUS_MAX_BODY_BYTES,
    session_cookie=settings.SESSION_COOKIE_NAME,
)
install_daphne_guard(body_limit)

application = ProtocolTypeRouter(
    {
        "http": body_limit,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
