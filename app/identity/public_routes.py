"""The only routes callable without a token (Decree 45/2020 Art. 7 puts everything else behind the gate).

tests/identity/test_route_walk.py fails when any other route answers without a token, so a route added
later cannot forget the gate. Extend this list only for data that is public by law or by nature.
"""

from __future__ import annotations

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset({
    # operations
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    # the API contract and its viewers
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    # the development identity provider's public keys (404 outside DVC_ENV=dev)
    ("GET", "/dev/jwks.json"),
    # the public procedure catalogue
    ("GET", "/v1/agencies"),
    ("GET", "/v1/agencies/{code}"),
    ("GET", "/v1/fields"),
    ("GET", "/v1/fields/{code}"),
    ("GET", "/v1/procedures"),
    ("GET", "/v1/procedures/{code}"),
    ("GET", "/v1/procedures/{code}/versions"),
    # the working-day calendar
    ("GET", "/v1/calendar/working-days"),
    # payment providers' callbacks: authenticated by their own signature, not a bearer token
    ("POST", "/v1/payments/providers/{provider}/callback"),
    ("GET", "/v1/payments/providers/{provider}/callback"),
    # fakepay's hosted checkout, standing in for a provider's site (404 outside DVC_ENV=dev)
    ("GET", "/dev/fakepay/checkout/{ref}"),
    ("GET", "/dev/fakepay/checkout/{ref}/complete"),
})

# Whole prefixes that are public: dossier tracking by code, the late list, published indicators.
PUBLIC_PREFIXES: tuple[str, ...] = ("/v1/public/",)


def is_public(method: str, path: str) -> bool:
    return (method.upper(), path) in PUBLIC_ROUTES or path.startswith(PUBLIC_PREFIXES)
