"""release/: the client, preflight and tokens, over real HTTP to the stand-in on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import string
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from core.errors import ConfigurationError
from release import (
    DEFAULT_RELEASE_API_URL,
    AddressPolicy,
    Fetcher,
    PreflightFailed,
    ReleaseClient,
    ReleaseForbidden,
    ReleaseRateLimited,
    ReleaseRejected,
    ReleaseRequest,
    ReleaseTimeout,
    ReleaseUnavailable,
    ReleaseUncertain,
    ReleaseUnreachable,
    check_manifest,
    check_token,
    fetch_manifest,
    guarded_session,
    parse_release_tokens,
    preflight,
    request_from_manifest,
)
from tests.stand_ins.foundry_api import DRY_RUN_MESSAGE, StandInFoundryAPI

SECRET = "Zq8LmN2pXr7TkW4vBy6HcJ3d"
TOKEN = "fvttp_" + SECRET
OTHER_TOKEN = "fvttp_Other0000000000000000"
PACKAGE = "my-module"


def manifest_doc(package_id=PACKAGE, version="1.2.0", minimum="11", verified="12", **extra) -> dict:
    return {
        "id": package_id,
        "title": "My Module",
        "version": version,
        "compatibility": {"minimum": minimum, "verified": verified},
        **extra,
    }


def make_request(**changes) -> ReleaseRequest:
    fields = dict(
        package_id=PACKAGE,
        version="1.2.0",
        manifest="https://example.org/my-module/v1.2.0/module.json",
        minimum="11",
        verified="12",
    )
    return ReleaseRequest(**{**fields, **changes})


def assert_no_fragment(text: str, secret: str = SECRET, size: int = 6) -> None:
    for start in range(len(secret) - size + 1):
        assert secret[start : start + size] not in text, f"token fragment {secret[start : start + size]!r} leaked"


def all_text(error: BaseException) -> str:
    return " ".join([str(error), repr(error), repr(error.args), *getattr(error, "details", [])])


def closed_port_url(path: str = "/") -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@pytest.fixture
async def foundry():
    async with StandInFoundryAPI() as stand_in:
        stand_in.add_package(PACKAGE, TOKEN)
        stand_in.add_package("other-module", OTHER_TOKEN)
        yield stand_in


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
async def fetcher():
    # The stand-ins listen on 127.0.0.1, as a maintainer's own network would (ALLOW_PRIVATE_MANIFEST_HOSTS=true).
    policy = AddressPolicy(allow_private=True)
    async with guarded_session(policy, user_agent="tests") as http:
        yield Fetcher(http, policy)


@pytest.fixture
def client(foundry, session):
    return ReleaseClient(session, foundry.release_url, timeout=5)


# --- The request ------------------------------------------------------------------------------


def test_default_url_is_the_api_host_of_foundrys_article_with_trailing_slash():
    assert DEFAULT_RELEASE_API_URL == "https://api.foundryvtt.com/_api/packages/release_version/"


def test_payload_dry_run_uses_hyphenated_key_and_omits_blank_optionals():
    assert make_request().payload(dry_run=True) == {
        "id": PACKAGE,
        "dry-run": True,
        "release": {
            "version": "1.2.0",
            "manifest": "https://example.org/my-module/v1.2.0/module.json",
            "compatibility": {"minimum": "11", "verified": "12"},
        },
    }
    real = make_request(maximum="13", notes="https://example.org/notes").payload(dry_run=False)
    assert "dry-run" not in real and "dryRun" not in real
    assert real["release"]["notes"] == "https://example.org/notes"
    assert real["release"]["compatibility"] == {"minimum": "11", "verified": "12", "maximum": "13"}


async def test_dry_run_sends_bare_token_and_saves_nothing(foundry, client):
    result = await client.release(make_request(), SecretStr(TOKEN), dry_run=True)

    assert result.page == "https://foundryvtt.com/packages/my-module/edit/"
    assert result.message == DRY_RUN_MESSAGE
    assert result.dry_run is True
    assert foundry.published[PACKAGE] == []
    [sent] = foundry.requests
    assert sent.auth == f"token-of:{PACKAGE}"  # the header was exactly the registered token
    assert sent.body == make_request().payload(dry_run=True)
    assert sent.headers["Content-Type"].startswith("application/json")
    assert not any("bearer" in value.lower() for value in sent.headers.values())


async def test_real_release_is_recorded(foundry, client):
    result = await client.release(make_request(), SecretStr(TOKEN), dry_run=False)

    assert result.message is None and result.dry_run is False
    assert result.page.endswith("/packages/my-module/edit/")
    assert foundry.published[PACKAGE] == ["1.2.0"]
    assert "dry-run" not in foundry.requests[0].body


async def test_stand_in_treats_dryRun_as_a_real_release(foundry, session):
    # Why the hyphen matters: the camelCase key is ignored and the version is saved.
    body = {**make_request().payload(dry_run=False), "dryRun": True}
    async with session.post(foundry.release_url, json=body, headers={"Authorization": TOKEN}) as response:
        assert response.status == 200
        assert "message" not in await response.json()
    assert foundry.published[PACKAGE] == ["1.2.0"]


# --- 400 --------------------------------------------------------------------------------------


async def test_missing_field_is_reported_as_field_line(client):
    with pytest.raises(ReleaseRejected) as caught:
        await client.release(make_request(manifest="", verified=""), SecretStr(TOKEN), dry_run=True)

    error = caught.value
    assert error.message == "Foundry rejected version 1.2.0 of my-module."
    assert error.details == ["manifest: This field is required.", "verified: This field is required."]
    assert error.field_errors["manifest"] == [{"message": "This field is required.", "code": "required"}]
    assert not error.temporary and not error.already_published


async def test_invalid_urls_are_reported_per_field(client):
    with pytest.raises(ReleaseRejected) as caught:
        await client.release(
            make_request(manifest="module.json", notes="see changelog"), SecretStr(TOKEN), dry_run=True
        )

    assert caught.value.details == ["manifest: Enter a valid URL.", "notes: Enter a valid URL."]


async def test_general_errors_drop_the___all___prefix(foundry, client):
    body = {
        "status": "error",
        "errors": {
            "__all__": [{"message": "Compatibility is inconsistent.", "code": "invalid"}],
            "version": ["Ensure this value has at most 64 characters."],
        },
    }
    foundry.fail_next(400, json.dumps(body), content_type="application/json")

    with pytest.raises(ReleaseRejected) as caught:
        await client.release(make_request(), SecretStr(TOKEN), dry_run=True)

    assert caught.value.details == [
        "Compatibility is inconsistent.",
        "version: Ensure this value has at most 64 characters.",
    ]
    assert "__all__" not in str(caught.value)


async def test_already_published_version_is_said_plainly(foundry, client):
    foundry.add_package(PACKAGE, TOKEN, versions=("1.2.0",))

    with pytest.raises(ReleaseRejected) as caught:
        await client.release(make_request(), SecretStr(TOKEN), dry_run=True)

    error = caught.value
    assert error.already_published is True
    assert error.details == ["Version 1.2.0 of my-module is already published."]
    assert error.field_errors["__all__"][0]["code"] == "unique_together"
    assert "__all__" not in str(error) and "unique_together" not in str(error)


# --- Other documented answers ------------------------------------------------------------------


async def test_token_of_another_package_is_forbidden(client):
    with pytest.raises(ReleaseForbidden) as caught:
        await client.release(make_request(package_id="other-module"), SecretStr(TOKEN), dry_run=True)

    assert "other-module" in caught.value.message and "RELEASE_TOKENS" in caught.value.message
    assert not caught.value.temporary


async def test_second_release_within_a_minute_is_rate_limited(foundry, client):
    await client.release(make_request(), SecretStr(TOKEN), dry_run=False)

    with pytest.raises(ReleaseRateLimited) as caught:
        await client.release(make_request(version="1.2.1"), SecretStr(TOKEN), dry_run=False)

    error = caught.value
    assert 58 <= error.retry_after <= 60
    expected_at = datetime.now(UTC) + timedelta(seconds=error.retry_after)
    assert error.retry_at.tzinfo is not None
    assert abs((error.retry_at - expected_at).total_seconds()) < 2
    assert error.message == f"Foundry allows one release per package per minute; try again in {error.retry_after} s."
    assert error.temporary
    assert foundry.published[PACKAGE] == ["1.2.0"]


@pytest.mark.parametrize("header, expected", [(None, 60), ("soon", 60), ("", 60), ("17", 17)])
async def test_retry_after_header_or_a_minute(foundry, client, header, expected):
    foundry.fail_next(
        429, "Too Many Requests", content_type="text/plain", headers={} if header is None else {"Retry-After": header}
    )

    with pytest.raises(ReleaseRateLimited) as caught:
        await client.release(make_request(), SecretStr(TOKEN), dry_run=False)

    assert caught.value.retry_after == expected


async def test_retry_after_as_http_date(foundry, client):
    when = datetime.now(UTC) + timedelta(seconds=120)
    foundry.fail_next(429, "", headers={"Retry-After": format_datetime(when, usegmt=True)})

    with pytest.raises(ReleaseRateLimited) as caught:
        await client.release(make_request(), SecretStr(TOKEN), dry_run=False)

    assert 118 <= caught.value.retry_after <= 121


# --- Undocumented answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, reason", [(500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Temporarily Unavailable")]
)
async def test_proxy_pages_give_status_and_title_not_html(foundry, client, status, reason):
    foundry.fail_next_with_proxy_page(status, reason)

    with pytest.raises(ReleaseUnavailable) as caught:
        await client.release(make_request(), SecretStr(TOKEN), dry_run=True)

    error = caught.value
    assert error.status == status
    assert error.cause == f"foundryvtt.com | {status}: {reason}"
    assert "<" not in str(error) and "gateway error" not in str(error)
    assert len(str(error)) < 150
    assert error.temporary


async def test_untitled_html_gives_first_hundred_characters(foundry, client):
    foundry.fail_next(404, "<html><body><h1>Page not found</h1><p>" + "x" * 500 + "</p></body></html>")

    with pytest.raises(ReleaseUnavailable) as caught:
        await client.release(make_request(), SecretStr(TOKEN), dry_run=True)

    assert caught.value.cause.startswith("Page not found x")
    assert len(caught.value.cause) <= 100
    assert not caught.value.temporary  # a 404 will not fix itself: the URL is wrong


async def test_unknown_token_is_401_with_foundrys_text(client):
    with pytest.raises(ReleaseUnavailable) as caught:
        await client.release(make_request(), SecretStr("fvttp_NotRegistered123"), dry_run=True)

    assert caught.value.status == 401
    assert caught.value.cause == "Invalid or missing package release token."


@pytest.mark.parametrize("status", [502, 200])
async def test_empty_body(foundry, client, status):
    foundry.fail_next(status, "", content_type="application/json")

    with pytest.raises(ReleaseUnavailable) as caught:
        await client.release(make_request(), SecretStr(TOKEN), dry_run=True)

    assert caught.value.status == status
    assert "empty answer" in caught.value.message


@pytest.mark.parametrize("body", ['{"status": "error"}', "<html><title>Log in</title></html>", '["ok"]'])
async def test_200_without_success_report_is_not_a_success(foundry, client, body):
    foundry.fail_next(200, body)

    with pytest.raises(ReleaseUnavailable) as caught:
        await client.release(make_request(), SecretStr(TOKEN), dry_run=True)

    assert caught.value.status == 200


async def test_a_slow_dry_run_times_out(foundry, session):
    foundry.delay_next(5)
    client = ReleaseClient(session, foundry.release_url, timeout=0.2)

    with pytest.raises(ReleaseTimeout) as caught:
        await client.release(make_request(), SecretStr(TOKEN), dry_run=True)

    assert caught.value.temporary
    assert caught.value.message == "Foundry's release API did not answer within 0.2 s."


async def test_a_real_release_that_times_out_may_have_been_released(foundry, session):
    foundry.delay_next(5)
    client = ReleaseClient(session, foundry.release_url, timeout=0.2)

    with pytest.raises(ReleaseUncertain) as caught:
        await client.release(make_request(), SecretStr(TOKEN), dry_run=False)

    error = caught.value
    assert not error.temporary and error.uncertain
    assert error.message == (
        "Version 1.2.0 of my-module may have been released: check the package page "
        "(https://foundryvtt.com/packages/my-module)."
    )
    assert error.details[0] == "Foundry's release API did not answer within 0.2 s."
    assert "retry" not in str(error).lower()


async def test_closed_port_is_unreachable(session):
    url = closed_port_url("/_api/packages/release_version/")
    client = ReleaseClient(session, url, timeout=5)

    with pytest.raises(ReleaseUnreachable) as caught:
        await client.release(make_request(), SecretStr(TOKEN), dry_run=True)

    assert caught.value.temporary
    assert caught.value.host in caught.value.message and caught.value.host.startswith("127.0.0.1:")


# --- The token never leaks ---------------------------------------------------------------------


async def test_token_is_in_no_error_result_or_log(foundry, session, caplog):
    caplog.set_level("DEBUG")
    client = ReleaseClient(session, foundry.release_url, timeout=0.2)
    token = SecretStr(TOKEN)
    seen: list[str] = [repr(token), str(token)]

    seen.append(repr(await client.release(make_request(), token, dry_run=True)))
    # A debug page echoing the request headers, with no <title>: its first words become the cause.
    foundry.fail_next(500, f"<html><body>Authorization: {TOKEN} Host: foundryvtt.com</body></html>")
    foundry.fail_next(400, '{"status": "error", "errors": {"manifest": ["This field is required."]}}')
    foundry.fail_next_with_proxy_page(502, "Bad Gateway")
    foundry.fail_next(429, "")
    foundry.delay_next(2)
    for request in (
        make_request(),
        make_request(),
        make_request(),
        make_request(),
        make_request(),
        make_request(package_id="other-module"),
    ):
        with pytest.raises(Exception) as caught:
            await client.release(request, token, dry_run=True)
        seen.append(all_text(caught.value))
    with pytest.raises(ReleaseUnreachable) as caught:
        await ReleaseClient(session, closed_port_url()).release(make_request(), token, dry_run=True)
    seen.append(all_text(caught.value))

    assert "[token]" in seen[3]  # the echoed token was blanked, not dropped silently
    for text in [*seen, caplog.text]:
        assert_no_fragment(text)


# --- Preflight ---------------------------------------------------------------------------------


async def test_preflight_passes_a_matching_manifest(foundry, fetcher):
    url = foundry.serve_manifest("manifests/my-module/v1.2.0/module.json", manifest_doc(), package=False)

    assert (await preflight(fetcher, make_request(manifest=url))).manifest == manifest_doc()


async def test_preflight_refuses_latest_url_even_when_manifest_matches(foundry, fetcher):
    url = foundry.serve_manifest("my-module/releases/latest/download/module.json", manifest_doc(), package=False)

    with pytest.raises(PreflightFailed) as caught:
        await preflight(fetcher, make_request(manifest=url))

    [line] = caught.value.details
    assert "(a /latest/ URL)" in line and "1.2.0" in line
    assert not caught.value.temporary


@pytest.mark.parametrize(
    "doc, expected",
    [
        (manifest_doc(version="1.1.0"), "The manifest says version 1.1.0, but this release is 1.2.0"),
        (manifest_doc(package_id="their-module"), "The manifest is for their-module, not my-module."),
        ({**manifest_doc(), "id": None}, "The manifest has no id (expected my-module)."),
        (manifest_doc(minimum=None), "The manifest has no compatibility.minimum."),
    ],
)
async def test_preflight_reports_a_contradicting_manifest(foundry, fetcher, doc, expected):
    url = foundry.serve_manifest("manifests/my-module/v1.2.0/module.json", doc, package=False)

    with pytest.raises(PreflightFailed) as caught:
        await preflight(fetcher, make_request(manifest=url))

    [line] = caught.value.details
    assert line.startswith(expected)


async def test_preflight_collects_every_problem(foundry, fetcher):
    doc = {"id": "their-module", "version": "1.1.0", "compatibility": {"maximum": "13"}}
    url = foundry.serve_manifest("their-module/releases/latest/module.json", doc, package=False)

    with pytest.raises(PreflightFailed) as caught:
        await preflight(fetcher, make_request(manifest=url, maximum="14"))

    details = caught.value.details
    assert len(details) == 6, details
    assert "/latest/" in details[0]
    assert "their-module" in details[1]
    assert "1.1.0" in details[2]
    assert details[3:] == [
        "The manifest has no compatibility.minimum.",
        "The manifest has no compatibility.verified.",
        "compatibility.maximum is 14 for this release but 13 in the manifest.",
    ]
    assert caught.value.message == "Version 1.2.0 of my-module is not ready to release (6 problems)."


async def test_preflight_reports_explicit_compatibility_that_differs(foundry, fetcher):
    url = foundry.serve_manifest(
        "manifests/my-module/v1.2.0/module.json", manifest_doc(minimum="11", verified="12"), package=False
    )

    with pytest.raises(PreflightFailed) as caught:
        await preflight(fetcher, make_request(manifest=url, minimum="10", verified="12.331"))

    assert caught.value.details == [
        "compatibility.minimum is 10 for this release but 11 in the manifest.",
        "compatibility.verified is 12.331 for this release but 12 in the manifest.",
    ]


@pytest.mark.parametrize(
    "content, options, expected",
    [
        (
            "<html><title>404 Not Found</title><body>" + "y" * 300 + "</body></html>",
            {"status": 404},
            "answered HTTP 404 (text/plain, 354 bytes).",  # the body's type and size, never its text
        ),
        ("not json at all {", {}, "is not JSON (it is text/plain, 17 bytes)."),
        ("[1, 2]", {}, "is JSON but not an object."),
        (manifest_doc(), {"delay": 3}, "did not answer within 0.2 s."),
    ],
)
async def test_preflight_reports_an_unusable_manifest(foundry, fetcher, content, options, expected):
    url = foundry.serve_manifest("manifests/my-module/v1.2.0/module.json", content, **options, package=False)

    with pytest.raises(PreflightFailed) as caught:
        await preflight(fetcher, make_request(manifest=url), timeout=0.2)

    assert caught.value.details == [f"The manifest at {url} {expected}"]
    assert not caught.value.temporary


async def test_preflight_reports_unreachable_manifest_with_latest_url(fetcher):
    url = closed_port_url("/owner/repo/releases/latest/download/module.json")

    with pytest.raises(PreflightFailed) as caught:
        await preflight(fetcher, make_request(manifest=url))

    first, second = caught.value.details
    assert "/latest/" in first
    assert second.startswith(f"The manifest at {url} could not be reached")


async def test_preflight_does_not_fetch_a_non_http_url(foundry, fetcher):
    with pytest.raises(PreflightFailed) as caught:
        await preflight(fetcher, make_request(manifest="ftp://example.org/module.json"))

    assert caught.value.details == ["The manifest URL must start with http:// or https://."]
    assert foundry.requests == []


async def test_preflight_checks_an_already_fetched_manifest_without_fetching_it_again(foundry, fetcher):
    url = foundry.serve_manifest("my-module/v1.2.0/module.json", manifest_doc(), package=False)
    fetched = await fetch_manifest(fetcher, url)

    assert (await preflight(fetcher, make_request(manifest=url), manifest=fetched)).manifest == manifest_doc()
    assert len(foundry.requests) == 1  # only the caller's fetch

    with pytest.raises(PreflightFailed) as caught:
        await preflight(fetcher, make_request(manifest=url, version="1.3.0"), manifest=fetched)
    assert len(caught.value.details) == 1 and "1.3.0" in caught.value.details[0]
    assert len(foundry.requests) == 1


async def test_fetch_manifest_tolerates_a_byte_order_mark(foundry, fetcher):
    url = foundry.serve_manifest("m/module.json", "\ufeff" + json.dumps(manifest_doc()), package=False)

    assert await fetch_manifest(fetcher, url) == manifest_doc()


def test_check_manifest_accepts_numeric_compatibility():
    assert check_manifest(make_request(minimum="11", verified="12"), manifest_doc(minimum=11, verified=12)) == []


def test_request_from_manifest_fills_version_and_compatibility():
    doc = manifest_doc(version="2.0.0", minimum=11, verified="12.331")
    doc["compatibility"]["maximum"] = "13"

    request = request_from_manifest(
        PACKAGE, "https://example.org/v2.0.0/module.json", doc, notes="https://example.org/notes"
    )

    assert request == ReleaseRequest(
        package_id=PACKAGE,
        version="2.0.0",
        manifest="https://example.org/v2.0.0/module.json",
        minimum="11",
        verified="12.331",
        maximum="13",
        notes="https://example.org/notes",
    )


def test_request_from_manifest_keeps_explicit_values():
    request = request_from_manifest(
        PACKAGE,
        "https://example.org/m.json",
        manifest_doc(),
        version="1.2.1",
        minimum="10",
        verified="11",
        maximum="14",
    )

    assert (request.version, request.minimum, request.verified, request.maximum) == ("1.2.1", "10", "11", "14")


def test_request_from_manifest_names_what_is_missing():
    with pytest.raises(PreflightFailed) as caught:
        request_from_manifest(
            PACKAGE, "https://example.org/m.json", {"id": PACKAGE, "compatibility": {"minimum": "11"}}
        )

    assert caught.value.details == [
        "Give version explicitly: the manifest has none.",
        "Give verified explicitly: the manifest has none.",
    ]


# --- Tokens ------------------------------------------------------------------------------------

MALFORMED = [
    (f'"{TOKEN}"', "quotes"),
    (f"'{TOKEN}'", "quotes"),
    (f"{TOKEN[:12]} {TOKEN[12:]}", "whitespace"),
    (f"{TOKEN[:12]}\n{TOKEN[12:]}", "whitespace"),
    (f"Bearer {TOKEN}", "Bearer"),
    (f"bearer {TOKEN}", "Bearer"),
    (f"fvttp_{TOKEN}", "twice"),
    (SECRET, "does not start with fvttp_"),
    ("   ", "is empty"),
]


@pytest.mark.parametrize("raw, problem", MALFORMED)
def test_malformed_token_names_package_and_problem_only(raw, problem):
    with pytest.raises(ConfigurationError) as caught:
        check_token(PACKAGE, raw)

    message = all_text(caught.value)
    assert PACKAGE in caught.value.message and problem in caught.value.message
    assert_no_fragment(message)


def test_token_is_trimmed_and_kept_secret():
    token = check_token(PACKAGE, f"  {TOKEN}\n")

    assert token.get_secret_value() == TOKEN
    assert SECRET[:6] not in repr(token) and SECRET[:6] not in str(token)


@given(
    secret=st.text(alphabet=string.ascii_uppercase + string.digits, min_size=16, max_size=40),
    shape=st.sampled_from(['"{}"', "Bearer {}", "fvttp_{}", "{} x", "{}"]),
)
@settings(max_examples=200, deadline=None)
def test_no_malformed_token_leaks_into_its_message(secret, shape):
    # "{}" alone is the bare secret without the fvttp_ prefix.
    raw = shape.format(secret if shape == "{}" else "fvttp_" + secret)
    with pytest.raises(ConfigurationError) as caught:
        check_token(PACKAGE, raw)
    assert_no_fragment(all_text(caught.value), secret)


def test_release_tokens_json_gives_secrets():
    tokens = parse_release_tokens(json.dumps({PACKAGE: f" {TOKEN} ", "other-module": OTHER_TOKEN}))

    assert {k: v.get_secret_value() for k, v in tokens.items()} == {PACKAGE: TOKEN, "other-module": OTHER_TOKEN}
    assert all(isinstance(v, SecretStr) for v in tokens.values())
    assert parse_release_tokens({PACKAGE: SecretStr(TOKEN)})[PACKAGE].get_secret_value() == TOKEN


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_unset_release_tokens_means_none(raw):
    assert parse_release_tokens(raw) == {}


@pytest.mark.parametrize(
    "raw, problem",
    [
        (TOKEN, "not valid JSON"),  # a bare token pasted instead of the JSON object
        ("{my-module: " + TOKEN + "}", "not valid JSON"),
        (json.dumps([TOKEN]), "must be a JSON object"),
        ("{}", "empty JSON object"),
        (json.dumps({PACKAGE: 12345}), "token for my-module must be a string"),
        (json.dumps({"": TOKEN}), "empty package id"),
    ],
)
def test_bad_release_tokens_name_the_variable_not_the_value(raw, problem):
    with pytest.raises(ConfigurationError) as caught:
        parse_release_tokens(raw)

    assert "RELEASE_TOKENS" in caught.value.message and problem in caught.value.message
    assert_no_fragment(all_text(caught.value))


def test_malformed_token_inside_release_tokens_names_its_package():
    with pytest.raises(ConfigurationError) as caught:
        parse_release_tokens(json.dumps({PACKAGE: TOKEN, "broken-module": f"Bearer {TOKEN}"}))

    assert "broken-module" in caught.value.message and "Bearer" in caught.value.message
    assert_no_fragment(all_text(caught.value))
