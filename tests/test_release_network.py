"""The network rules of every fetch a release makes (the manifest, the package zip, the changelog): no loopback,
private, link-local or multicast address, checked on the addresses actually connected to and after every redirect;
one answer for a refused address and a closed port; echoed values escaped; every body capped.

These tests run with ALLOW_PRIVATE_MANIFEST_HOSTS off (the others turn it on: their stand-ins listen on
127.0.0.1). Where a "public" host is needed, the stand-in on 127.0.0.1 is trusted as one, and the address
the redirect aims at is another loopback address with its own stand-in, which must see no request.
"""

from __future__ import annotations

import json
import socket

import pytest

from release import AddressPolicy
from tests.stand_ins.foundry_api import StandInFoundryAPI
from tests.stand_ins.package_zips import build_zip
from tests.test_release_cli import cli  # noqa: F401 - the command-line fixture
from tests.test_release_commands import dry_run, lines, manifest_doc, posts

pytestmark = pytest.mark.parametrize("settings_overrides", [{"allow_private_manifest_hosts": False}])

OPTIONS = {"version": "1.2.0", "minimum": "12", "verified": "13"}


def problems(result) -> list[str]:
    return [line.removeprefix("• ") for line in lines(result) if line.startswith("• ")]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trust_only(env, network: str) -> None:
    """Treat `network` as the public internet; every other internal address stays refused."""
    policy: AddressPolicy = env.app.releases.fetcher.policy
    policy.trusted = AddressPolicy(allow_private=False, trusted=[network]).trusted


@pytest.fixture
async def inside():
    """A host inside the bot's network (another loopback address): it must never be asked anything."""
    async with StandInFoundryAPI(host="127.0.0.2") as stand_in:
        yield stand_in


async def test_a_manifest_on_loopback_is_refused_without_a_request(gm_env):
    url = gm_env.foundry.serve_manifest("v1.2.0/module.json", manifest_doc())

    result = await dry_run(gm_env, package="my-module", manifest=url)

    assert problems(result) == [f"The manifest at {url} could not be reached."]
    assert gm_env.foundry.requests == []  # nothing was asked of it, not even the manifest


async def test_a_refused_address_and_a_closed_port_read_the_same(gm_env):
    served = gm_env.foundry.serve_manifest("v1.2.0/module.json", manifest_doc())
    closed = f"http://127.0.0.1:{closed_port()}/v1.2.0/module.json"
    trust_only(gm_env, "127.0.0.1/32")  # so the closed port is really tried

    refused = served.replace("127.0.0.1", "127.0.0.3")
    refused_text = (await dry_run(gm_env, package="my-module", manifest=refused)).text
    closed_text = (await dry_run(gm_env, package="my-module", manifest=closed)).text

    assert refused_text.replace(refused, "URL") == closed_text.replace(closed, "URL")
    for text in (refused_text, closed_text):
        assert text.endswith("could not be reached.")
        assert "refused" not in text.lower() and "Errno" not in text and "private" not in text.lower()


@pytest.mark.parametrize("host", ["localhost", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0"])
async def test_names_and_literals_that_lead_inside_are_refused(gm_env, host):
    port = gm_env.foundry.base_url.rsplit(":", 1)[1]
    url = f"http://{host}:{port}/v1.2.0/module.json"
    gm_env.foundry.serve_manifest("v1.2.0/module.json", manifest_doc())

    result = await dry_run(gm_env, package="my-module", manifest=url, **OPTIONS)

    assert problems(result)[0].endswith("could not be reached.")
    assert gm_env.foundry.requests == []


async def test_a_redirect_into_the_network_is_refused_at_its_hop(gm_env, inside):
    trust_only(gm_env, "127.0.0.1/32")
    target = inside.serve_manifest("secret/module.json", manifest_doc())
    url = gm_env.foundry.serve_redirect("v1.2.0/module.json", target)

    result = await dry_run(gm_env, package="my-module", manifest=url, **OPTIONS)

    assert problems(result) == [f"The manifest at {url} could not be reached."]
    assert inside.requests == []  # the hop inside was never made
    assert [r.path for r in gm_env.foundry.requests] == ["/v1.2.0/module.json"]


async def test_a_package_zip_inside_the_network_is_refused(gm_env, inside):
    trust_only(gm_env, "127.0.0.1/32")
    download = inside.serve_zip("pkg.zip", build_zip(manifest_doc()))
    url = gm_env.foundry.serve_manifest("v1.2.0/module.json", {**manifest_doc(), "download": download})

    result = await dry_run(gm_env, package="my-module", manifest=url)

    assert problems(result) == [f"The package zip at {download} could not be reached."]
    assert inside.requests == []
    assert not posts(gm_env.foundry)


async def test_a_zip_redirecting_inside_is_refused(gm_env, inside):
    trust_only(gm_env, "127.0.0.1/32")
    storage = inside.serve_zip("pkg.zip", build_zip(manifest_doc()))
    download = gm_env.foundry.serve_redirect("releases/download/v1.2.0/m.zip", storage)
    url = gm_env.foundry.serve_manifest("v1.2.0/module.json", {**manifest_doc(), "download": download})

    result = await dry_run(gm_env, package="my-module", manifest=url)

    assert problems(result) == [f"The package zip at {download} could not be reached."]
    assert inside.requests == []


async def test_allowing_private_hosts_fetches_them(gm_env):
    gm_env.app.releases.fetcher.policy.allow_private = True  # ALLOW_PRIVATE_MANIFEST_HOSTS=true
    url = gm_env.foundry.serve_manifest("v1.2.0/module.json", manifest_doc())
    assert "Dry run passed" in (await dry_run(gm_env, package="my-module", manifest=url)).text


async def test_values_echoed_from_a_manifest_are_escaped(gm_env):
    trust_only(gm_env, "127.0.0.1/32")
    doc = {**manifest_doc(package="@everyone **x** [y](https://z)"), "version": "<@&1> `1`"}
    url = gm_env.foundry.serve_manifest("v1.2.0/module.json", doc, package=False)

    result = await dry_run(gm_env, package="my-module", manifest=url, package_check=False, **OPTIONS)

    text = result.text
    assert "@everyone" not in text and "@\u200beveryone" in text
    assert "**x**" not in text and "[y](https://z)" not in text and "`1`" not in text


async def test_an_oversized_manifest_redirect_chain_is_cut(gm_env):
    trust_only(gm_env, "127.0.0.1/32")
    foundry = gm_env.foundry
    for hop in range(7):
        foundry.serve_redirect(f"hop{hop}/module.json", f"{foundry.base_url}/hop{hop + 1}/module.json")
    url = f"{foundry.base_url}/hop0/module.json"

    result = await dry_run(gm_env, package="my-module", manifest=url, **OPTIONS)

    assert problems(result) == [f"The manifest at {url} redirected more than 5 times."]


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.9", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("224.0.0.251", False),  # multicast
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("ff02::1", False),
        ("not an address", False),
    ],
)
def test_the_address_policy(settings_overrides, address, allowed):
    assert AddressPolicy(allow_private=False).allows(address) is allowed
    assert AddressPolicy(allow_private=True).allows(address) is True


async def test_the_command_line_refuses_loopback_unless_allowed(cli, foundry, settings_overrides):  # noqa: F811
    url = foundry.serve_manifest("cli/v1.2.0/module.json", manifest_doc())

    refused = await cli(
        "release", "dry-run", "--package", "my-module", "--manifest", url, ALLOW_PRIVATE_MANIFEST_HOSTS=None
    )
    allowed = await cli("release", "dry-run", "--package", "my-module", "--manifest", url, "--json")

    assert refused.code == 75
    assert refused.err.splitlines() == [
        "This release of my-module is not ready (1 problem).",
        f"The manifest at {url} could not be reached.",
    ]
    assert allowed.code == 0, allowed.out
    assert json.loads(allowed.out)["data"]["package_check"] == "passed"
