"""Payment providers by name. `fakepay` and `vnpay` are built in; tests may swap one (`use_provider`)."""

from __future__ import annotations

from app.core.problems import ProblemError
from app.fees.providers.base import PaymentProvider

ONLINE_PROVIDERS = ("fakepay", "vnpay")
_overrides: dict[str, PaymentProvider] = {}


def get_provider(name: str) -> PaymentProvider:
    if name in _overrides:
        return _overrides[name]
    if name == "fakepay":
        from app.fees.providers.fakepay import FakePayProvider

        return FakePayProvider()
    if name == "vnpay":
        from app.fees.providers.vnpay import VnpayProvider

        return VnpayProvider()
    raise ProblemError("not_found", f"No payment provider named {name!r}.")


def use_provider(name: str, provider: PaymentProvider | None) -> None:
    """Replace a provider (None restores the built-in one)."""
    if provider is None:
        _overrides.pop(name, None)
    else:
        _overrides[name] = provider
