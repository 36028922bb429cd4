"""A second OpenID provider that no one here wrote, for the acceptance tests: Django
OAuth Toolkit (pinned in requirements.txt), configured through its documented settings
and run by Django's own threaded server. Nothing of the toolkit is changed: this file
only configures it, adds the login page Django's LoginView renders, a users' table, the
clients the tests use and a `/test/stats` counter view (as test-provider/ has for
oidc-provider).

Run: `python serve.py` (the virtualenv scripts/test makes in .venv). It listens on a free
loopback port, prints `READY http://127.0.0.1:<port>` once it serves, and exits when its
stdin closes (the test binary that started it ended). The issuer is that address.

Clients (confidential, client_secret_basic or _post, PKCE S256, redirect URIs on
http://127.0.0.1 with any port, RFC 8252):
- `example` / `test-secret-test-secret-test-secret`: authorization code with refresh,
  RP-initiated logout back to `/` or `/signed-out`, scopes openid profile email api:read.
- `svc` / `svc-secret-svc-secret-svc-secret-svc`: client credentials (an API's caller).
Users: alice / alice-password (alice@example.com, verified), bob / bob-password.
"""

import os
import socket
import socketserver
import sys
import tempfile
import threading

import django
from django.conf import settings
from django.urls import include, path

LOGIN_HTML = """<!doctype html><title>Sign in</title>
<form method="post" action="{{ request.get_full_path }}">{% csrf_token %}
<input name="username"> <input name="password" type="password">
<input type="hidden" name="next" value="{{ next }}">
<button>Sign in</button></form>"""

CLIENT_SECRET = "test-secret-test-secret-test-secret"
SVC_SECRET = "svc-secret-svc-secret-svc-secret-svc"


def rsa_key_pem():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def configure(issuer, database):
    settings.configure(
        DEBUG=False,
        SECRET_KEY=os.urandom(32).hex(),
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "oauth2_provider",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        # One SQLite file, written by the server's threads: transactions take the write
        # lock when they begin (no lock upgrade to fail) and wait for it.
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": database,
                "OPTIONS": {
                    "timeout": 20,
                    "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL;",
                },
            }
        },
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {
                    "context_processors": ["django.template.context_processors.request"],
                    "loaders": [
                        (
                            "django.template.loaders.locmem.Loader",
                            {"registration/login.html": LOGIN_HTML},
                        ),
                        "django.template.loaders.app_directories.Loader",
                    ],
                },
            }
        ],
        LOGIN_URL="/accounts/login/",
        # Test users only: a fast hash keeps each sign-in cheap.
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        OAUTH2_PROVIDER={
            "OIDC_ENABLED": True,
            "OIDC_RSA_PRIVATE_KEY": rsa_key_pem(),
            "OIDC_ISS_ENDPOINT": issuer,
            "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
            "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
            "PKCE_REQUIRED": True,
            "ROTATE_REFRESH_TOKEN": True,
            "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
            "OAUTH2_VALIDATOR_CLASS": "serve.Validator",
            "SCOPES": {
                "openid": "OpenID Connect",
                "profile": "Profile",
                "email": "Email",
                "api:read": "Read the API",
                # What OpenID clients ask for a refresh token with (OIDC Core 11); the
                # toolkit refuses a scope it does not list.
                "offline_access": "Stay signed in",
            },
        },
    )


def stats(request):
    """How many tokens the provider issued (what the tests count refreshes with)."""
    from django.http import JsonResponse
    from oauth2_provider.models import AccessToken, Grant, IDToken, RefreshToken

    return JsonResponse(
        {
            "access_tokens": AccessToken.objects.count(),
            "refresh_tokens": RefreshToken.objects.count(),
            "refresh_tokens_revoked": RefreshToken.objects.exclude(revoked=None).count(),
            "id_tokens": IDToken.objects.count(),
            "grants": Grant.objects.count(),
        }
    )


def urls():
    from django.contrib.auth.views import LoginView
    from oauth2_provider.views.metadata import OAuthServerMetadataView

    return [
        path("accounts/login/", LoginView.as_view()),
        # RFC 8414 metadata at the root as well (where strict clients look for it).
        path(".well-known/oauth-authorization-server", OAuthServerMetadataView.as_view()),
        path("test/stats", stats),
        path("", include("oauth2_provider.urls", namespace="oauth2_provider")),
    ]


def seed():
    from django.contrib.auth.models import User
    from oauth2_provider.models import Application

    alice = User.objects.create_user("alice", "alice@example.com", "alice-password")
    alice.first_name, alice.last_name = "Alice", "Example"
    alice.save()
    User.objects.create_user("bob", "bob@example.com", "bob-password")
    Application.objects.create(
        name="example",
        client_id="example",
        client_secret=CLIENT_SECRET,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1/auth/callback http://127.0.0.1/auth/callback/dot",
        post_logout_redirect_uris="http://127.0.0.1/ http://127.0.0.1/signed-out",
        skip_authorization=True,
        algorithm=Application.RS256_ALGORITHM,
    )
    Application.objects.create(
        name="svc",
        client_id="svc",
        client_secret=SVC_SECRET,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )


def __getattr__(name):
    """`serve.Validator`, made when the toolkit asks for it (after Django's setup): the
    toolkit's validator with the user's email and name as claims, by its documented
    `get_additional_claims` (the scopes filter them, as `oidc_claim_scope` says)."""
    if name != "Validator":
        raise AttributeError(name)
    from oauth2_provider.oauth2_validators import OAuth2Validator

    class Validator(OAuth2Validator):
        def get_additional_claims(self, request):
            user = request.user
            return {
                "email": user.email,
                "email_verified": True,
                "name": f"{user.first_name} {user.last_name}".strip() or user.username,
                "preferred_username": user.username,
            }

    globals()["Validator"] = Validator
    return Validator


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    issuer = f"http://127.0.0.1:{port}"
    database = os.path.join(tempfile.mkdtemp(prefix="dot-"), "db.sqlite3")
    configure(issuer, database)
    django.setup()

    global urlpatterns
    urlpatterns = urls()

    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    seed()

    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer

    class Server(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    sock.close()
    httpd = Server(("127.0.0.1", port), Quiet)
    httpd.set_app(WSGIHandler())

    def end_with_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=end_with_stdin, daemon=True).start()
    print(f"READY {issuer}", flush=True)
    httpd.serve_forever()


urlpatterns = []

if __name__ == "__main__":
    sys.modules["serve"] = sys.modules["__main__"]
    main()
