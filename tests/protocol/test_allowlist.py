"""is_allowed_fhir_server: contract section 0 (same scheme, host, port; path at a / boundary)."""

from __future__ import annotations

import pytest

from cds_service.protocol.allowlist import is_allowed_fhir_server

ALLOWED = ["https://ehr.example.org/fhir", "http://127.0.0.1:8081/baseR4/"]


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example.org/fhir",
        "https://ehr.example.org/fhir/",
        "https://ehr.example.org/fhir/r4",
        "https://ehr.example.org/fhir/r4/",
        "https://ehr.example.org:443/fhir",  # default port made explicit
        "HTTPS://EHR.Example.ORG/fhir",  # scheme and host are case-insensitive
        "http://127.0.0.1:8081/baseR4",  # entry with a trailing slash, url without
        "http://127.0.0.1:8081/baseR4/tenant-a",
    ],
)
def test_allowed(url: str) -> None:
    assert is_allowed_fhir_server(url, ALLOWED)


@pytest.mark.parametrize(
    "url",
    [
        "http://ehr.example.org/fhir",  # scheme differs
        "https://ehr.example.org:8443/fhir",  # port differs
        "https://ehr.example.org:80/fhir",  # another port, even a "default" one
        "https://evil.example.org/fhir",  # host differs
        "https://ehr.example.org.evil.org/fhir",  # host suffix trick
        "https://ehr.example.org/fhir2",  # not at a / boundary
        "https://ehr.example.org/fhirx/r4",
        "https://ehr.example.org/",  # above the entry
        "https://ehr.example.org",
        "https://ehr.example.org/other/fhir",
        "https://ehr.example.org/FHIR",  # paths are case-sensitive
        "https://user:pw@ehr.example.org/fhir",  # userinfo
        "https://user@ehr.example.org/fhir",
        "https://@ehr.example.org/fhir",
        "https://ehr.example.org@evil.org/fhir",
        "ftp://ehr.example.org/fhir",  # scheme not http(s)
        "file:///etc/passwd",
        "javascript:alert(1)",
        "//ehr.example.org/fhir",  # no scheme
        "ehr.example.org/fhir",
        "https://ehr.example.org/fhir/../admin",  # dot segments
        "https://ehr.example.org/fhir/%2e%2e/admin",
        "https://ehr.example.org/fhir/%2F..%2Fadmin",
        "https://ehr.example.org/fhir?x=1",  # a base URL has no query
        "https://ehr.example.org/fhir#frag",
        "https://ehr.example.org:99999/fhir",  # invalid port
        "https://ehr.example.org:abc/fhir",
        "https://ehr.example.org/fhir r4",  # whitespace
        "https://ehr.example.org/fhir\n",
        "",
        "http://127.0.0.1/baseR4",  # port 80 != 8081
        "http://localhost:8081/baseR4",  # another name for the same host is not the host
        "http://127.0.0.1:8081/baseR4x",
    ],
)
def test_refused(url: str) -> None:
    assert not is_allowed_fhir_server(url, ALLOWED)


def test_default_ports_are_equivalent_both_ways() -> None:
    assert is_allowed_fhir_server("http://h.example/fhir", ["http://h.example:80/fhir"])
    assert is_allowed_fhir_server("http://h.example:80/fhir", ["http://h.example/fhir"])
    assert is_allowed_fhir_server("https://h.example:443/fhir", ["https://h.example/fhir"])
    assert not is_allowed_fhir_server("http://h.example:443/fhir", ["http://h.example/fhir"])
    assert not is_allowed_fhir_server("https://h.example:80/fhir", ["https://h.example/fhir"])


def test_empty_allow_list_allows_nothing() -> None:
    assert not is_allowed_fhir_server("https://ehr.example.org/fhir", [])


def test_root_entry_allows_every_path_of_that_origin() -> None:
    assert is_allowed_fhir_server("https://h.example/any/path", ["https://h.example"])
    assert is_allowed_fhir_server("https://h.example", ["https://h.example/"])
    assert not is_allowed_fhir_server("https://h.example.com/", ["https://h.example"])


def test_entry_case_of_host_does_not_matter() -> None:
    assert is_allowed_fhir_server("https://ehr.example.org/fhir", ["https://EHR.EXAMPLE.ORG/fhir"])


def test_malformed_entries_are_ignored_not_fatal() -> None:
    entries = ["not a url", "ftp://ehr.example.org/fhir", "https://u:p@ehr.example.org/fhir"]
    assert not is_allowed_fhir_server("https://ehr.example.org/fhir", entries)
    assert is_allowed_fhir_server(
        "https://ehr.example.org/fhir", [*entries, "https://ehr.example.org/fhir"]
    )


def test_ipv6_host() -> None:
    assert is_allowed_fhir_server("http://[::1]:8080/fhir/r4", ["http://[::1]:8080/fhir"])
    assert not is_allowed_fhir_server("http://[::2]:8080/fhir", ["http://[::1]:8080/fhir"])


def test_any_matching_entry_is_enough() -> None:
    entries = ["https://a.example/fhir", "https://b.example/r4"]
    assert is_allowed_fhir_server("https://b.example/r4/x", entries)
    assert not is_allowed_fhir_server("https://b.example/fhir", entries)


@pytest.mark.parametrize("value", [None, 42, b"https://ehr.example.org/fhir"])
def test_non_string_is_refused(value: object) -> None:
    assert not is_allowed_fhir_server(value, ALLOWED)  # type: ignore[arg-type]


def test_within_server_allows_queries_but_stays_under_the_base() -> None:
    from cds_service.protocol.allowlist import is_within_server

    base = "http://127.0.0.1:8081/fhir"
    assert is_within_server(f"{base}/Condition?patient=p1&_offset=50", base)
    assert is_within_server(f"{base}?_getpages=abc&_getpagesoffset=20", base)
    assert not is_within_server("http://127.0.0.1:8082/fhir?_getpages=abc", base)
    assert not is_within_server("http://203.0.113.9/fhir/Condition?patient=p1", base)
    assert not is_within_server("http://127.0.0.1:8081/other?x=1", base)
    assert not is_within_server("http://u@127.0.0.1:8081/fhir?x=1", base)
    assert not is_within_server(f"{base}/Condition#frag", base)
