"""The SSRF guard against IPv6 forms that carry an IPv4 address: as a URL literal, as a DNS answer, at creation
of a webhook or an intake attachment, and again when a delivery is sent."""

from __future__ import annotations

import ipaddress

import pytest

from app.core.delivery import PENDING
from app.integration import ssrf
from app.integration.webhooks import CONSUMER
from tests.integration.conftest import PUBLIC_IP, FakeDns, deliveries, submitted_dossier
from tests.integration.test_intake import _body, _syncer
from tests.integration.test_webhooks import URL, Receiver, _subscribe
from tests.support.identity_fixtures import DEFAULT_AGENCY

# (IPv6 address, what it carries): each reaches a private, loopback or link-local IPv4 address.
REFUSED = [
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped cloud metadata"),
    ("::127.0.0.1", "IPv4-compatible loopback"),
    ("::10.1.2.3", "IPv4-compatible private"),
    ("::169.254.169.254", "IPv4-compatible cloud metadata"),
    ("2002:7f00:1::", "6to4 of 127.0.0.1"),
    ("2002:a9fe:a9fe::1", "6to4 of 169.254.169.254"),
    ("2002:c0a8:101:1::5", "6to4 of 192.168.1.1"),
    ("2001:0:7f00:1::", "Teredo server 127.0.0.1"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo client 10.0.0.1 (obfuscated), public server"),
    ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254"),
    ("64:ff9b::c0a8:101", "NAT64 of 192.168.1.1"),
    ("64:ff9b:1::a00:1", "local-use NAT64, refused whole"),
    ("64:ff9b:1:7f00:1::", "local-use NAT64 with a /48 embedding of 127.0.0.1"),
    ("::ffff:0:7f00:1", "IPv4-translated (SIIT) loopback"),
    ("::ffff:0:a9fe:a9fe", "IPv4-translated (SIIT) cloud metadata"),
]
# Public addresses, including forms carrying a public IPv4 address (93.184.216.34 = 5db8:d822).
ALLOWED = ["2606:4700:4700::1111", "::ffff:93.184.216.34", "64:ff9b::5db8:d822"]


@pytest.mark.parametrize(("address", "why"), REFUSED)
async def test_ipv6_forms_carrying_a_private_ipv4_address_are_refused(dns: FakeDns, address: str, why: str) -> None:
    with pytest.raises(ssrf.UnsafeUrl, match="private, loopback or link-local"):
        await ssrf.check_url(f"http://[{address}]/hook", allow_private=False)
    dns.set("rebound.example.com", PUBLIC_IP, address)  # as a DNS answer, among public ones
    with pytest.raises(ssrf.UnsafeUrl, match="private, loopback or link-local"):
        await ssrf.check_url("https://rebound.example.com/hook", allow_private=False)


@pytest.mark.parametrize("address", ALLOWED)
async def test_public_ipv6_addresses_pass(dns: FakeDns, address: str) -> None:
    await ssrf.check_url(f"http://[{address}]/hook", allow_private=False)
    dns.set("public.example.com", address)
    await ssrf.check_url("https://public.example.com/hook", allow_private=False)


@pytest.mark.parametrize(("address", "inside"), [
    ("::ffff:10.0.0.1", ["10.0.0.1"]), ("::10.0.0.1", ["10.0.0.1"]), ("2002:7f00:1::", ["127.0.0.1"]),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", ["65.54.227.120", "10.0.0.1"]), ("64:ff9b::7f00:1", ["127.0.0.1"]),
    ("::1", []), ("::", []), ("2606:4700:4700::1111", []),
])
def test_the_ipv4_address_an_ipv6_address_carries(address: str, inside: list[str]) -> None:
    assert [str(a) for a in ssrf.embedded_ipv4(ipaddress.IPv6Address(address))] == inside


async def test_the_refusal_names_the_carried_address(dns: FakeDns) -> None:
    with pytest.raises(ssrf.UnsafeUrl, match=r"2002:7f00:1:: \(carrying 127\.0\.0\.1\)"):
        await ssrf.check_url("http://[2002:7f00:1::]/hook", allow_private=False)


async def test_a_webhook_to_a_6to4_loopback_is_refused(client, accounts, dns: FakeDns) -> None:  # type: ignore[no-untyped-def]
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    response = await _subscribe(client, integrator, "http://[2002:7f00:1::]:8080/hook")
    assert response.status_code == 422, response.text
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [(["body", "url"], "unsafe_url")]


async def test_an_intake_attachment_on_nat64_metadata_is_refused(client, accounts, dossiers) -> None:  # type: ignore[no-untyped-def]
    code = await dossiers.procedure()
    attachment = {"part": "application_form", "url": "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/"}
    body = _body(code, attachments=[attachment])
    response = await client.post("/v1/integration/dossiers", json=body, headers=(await _syncer(accounts)).headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["type"] == "unsafe_url"


async def test_a_target_rebound_to_an_ipv4_compatible_loopback_is_not_called(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, dns: FakeDns) -> None:
    dns.set("hooks.example.com", PUBLIC_IP)
    receiver = Receiver()
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    assert (await _subscribe(client, integrator, URL)).status_code == 201
    dns.set("hooks.example.com", "::7f00:1")  # IPv4-compatible 127.0.0.1, after creation
    await submitted_dossier(client, accounts, dossiers)
    await receiver.run()
    assert receiver.requests == []
    [row] = await deliveries(CONSUMER)
    assert row.state == PENDING and "carrying 127.0.0.1" in (row.last_error or "")
