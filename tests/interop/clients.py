"""Third-party CDS Clients, rebuilt from their published code: request and token construction.

* **CDS Hooks sandbox** (``cds-hooks/sandbox`` @ ``SANDBOX_COMMIT``):
  ``src/reducers/medication-reducers.js`` ``createFhirResource`` (the order for each FHIR
  version), ``src/components/RxSign/rx-sign.jsx`` / ``RxView/rx-view.jsx`` (the
  order-sign and order-select contexts), ``src/retrieve-data-helpers/service-exchange.js``
  ``callServices`` (the envelope; prefetch keys it could not fetch are left out) and
  ``src/retrieve-data-helpers/jwt-generator.js`` (ES384; header ``typ``, ``kid``, ``jku``;
  claims ``iss``, ``aud``, ``exp`` = now + 300, ``iat``, ``jti`` = a UUID; no ``sub``).
* **Inferno CRD test kit** (``inferno-framework/davinci-crd-test-kit`` @ ``INFERNO_COMMIT``):
  ``lib/davinci_crd_test_kit/jwt_helper.rb`` (ES384 or RS384; header ``alg``, ``typ``,
  ``kid``, ``jku``; claims ``iss``, ``aud``, ``exp`` = now + 5 min, ``iat``, ``jti`` = 32
  random bytes in hex; no ``sub``) and ``server_tests/service_call_test.rb`` (``iss`` is
  Inferno's base URL, ``jku`` that URL + ``/jwks.json``, ``aud`` the service endpoint).
* **The spec's example token** (``docs/specification/current.md``): its header and claims
  (with ``tenant``, without ``sub``), re-signed with fresh times for this endpoint.
* **Epic's CDS Hooks token**, built to the claims of the "Trusting CDS Clients / JWT Tokens"
  section of Epic on FHIR's CDS Hooks Tutorial (found in the search tool's stored pages, in
  a copy titled "Documentation - Epic on FHIR (2024)"): header ``alg`` RS384 (Epic's
  default), ``jku`` ``{base}/api/epic/2019/Security/Open/PublicKeys/530013/530013``, ``kid``
  (the example's is a base64 thumbprint, kept here), ``typ`` JWT; claims ``aud`` (the
  service endpoint), ``exp`` (the example's is ``iat`` + 900 s), ``iat``, ``iss`` (the
  organisation's FHIR endpoint), ``jti``, ``nbf`` ("typically 5 minutes prior to the issue
  time") and ``sub`` (the CDS Hooks client id). The page's own example payload is cut off in
  the stored copy after ``iss``, so the values of ``jti`` and ``sub`` are this file's.

Keys are generated in the test; the only substitution is the ``jku`` host, which must be the
loopback JWK Set the service is configured with (the published ones are not reachable here).
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import date
from typing import Any

import jwt

from tests.security.jwt_support import SigningKey, generate_key, public_jwk

SANDBOX_COMMIT = "3b7e25546771c6e7fc5e360aa7db6eb64af0b8b6"
INFERNO_COMMIT = "1d1f2c43191c422eaa31804b46ae5c900a79cd08"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
EPIC_KID = "d3bmo5HzW61TUgikHZH+A8Tx4UOXz2iOs4KvVU4eLY0="
EPIC_JWKS_PATH = "/api/epic/2019/Security/Open/PublicKeys/530013/530013"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


class Client:
    """One CDS Client: its issuer, signing keys (by alg) and the kid each is published under."""

    def __init__(self, iss: str, kids: dict[str, str]) -> None:
        self.iss = iss
        self.kids = kids
        self.keys: dict[str, SigningKey] = {alg: generate_key(alg) for alg in kids}
        self.jku = ""  # set once the loopback JWK Set is up

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.keys[alg], kid, alg) for alg, kid in self.kids.items()]}


def sandbox_token(client: Client, audience: str) -> str:
    """``generateJWT(audience)`` of the sandbox."""
    now = time.time()
    payload = {
        "iss": SANDBOX_ISS,
        "aud": audience,
        "exp": round(now + 300),
        "iat": round(now),
        "jti": str(uuid.uuid4()),
    }
    header = {"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID, "jku": client.jku}
    return jwt.encode(payload, client.keys["ES384"], algorithm="ES384", headers=header)


def inferno_token(client: Client, audience: str, alg: str = "ES384") -> str:
    """``JwtHelper.build(aud:, iss: inferno_base_url, jku: "#{base}/jwks.json", ...)``."""
    now = int(time.time())
    payload = {
        "iss": client.iss,
        "aud": audience,
        "exp": now + 5 * 60,
        "iat": now,
        "jti": secrets.token_hex(32),
    }
    header = {"alg": alg, "typ": "JWT", "kid": client.kids[alg], "jku": client.jku}
    return jwt.encode(payload, client.keys[alg], algorithm=alg, headers=header)


def epic_token(client: Client, audience: str, client_id: str = "epic-cds-hooks-client") -> str:
    """A token with the header and claims Epic documents for its CDS Hooks calls."""
    now = int(time.time())
    payload = {
        "aud": audience,
        "exp": now + 900,
        "iat": now,
        "iss": client.iss,
        "jti": str(uuid.uuid4()),
        "nbf": now - 300,
        "sub": client_id,
    }
    header = {"alg": "RS384", "jku": client.jku, "kid": client.kids["RS384"], "typ": "JWT"}
    return jwt.encode(payload, client.keys["RS384"], algorithm="RS384", headers=header)


def spec_example_token(
    client: Client, published: list[dict[str, Any]], audience: str, *, fresh: bool = True
) -> str:
    """The spec's example header and claims, re-signed; ``fresh`` moves its times to now."""
    header, claims = dict(published[0]), dict(published[1])
    claims["aud"] = audience
    if fresh:
        now = int(time.time())
        claims["iat"], claims["exp"] = now, now + 300
    header["jku"] = client.jku
    return jwt.encode(claims, client.keys["ES384"], algorithm="ES384", headers=header)


# --- the sandbox's request builders ------------------------------------------------------

_VERSIONS = {"R4": "4.0.1", "STU3": "3.0.1", "DSTU2": "1.0.2"}


def _version_at_least(version: str, minimum: str) -> bool:
    return tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split(".")))


def create_fhir_resource(
    fhir_version: str,
    patient_id: str,
    medication: tuple[str, str],
    *,
    with_dispense_request: bool,
    today: date,
) -> dict[str, Any]:
    """``createFhirResource`` for a prescribable medication with dosage (amount 1, daily)."""
    stu3_or_higher = _version_at_least(fhir_version, "3.0.1")
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest" if stu3_or_higher else "MedicationOrder",
        "id": "request-123" if stu3_or_higher else "order-123",
        "status": "draft",
    }
    resource["subject" if stu3_or_higher else "patient"] = {"reference": f"Patient/{patient_id}"}
    resource["authoredOn" if stu3_or_higher else "dateWritten"] = today.isoformat()
    dose_quantity = {"value": 1, "system": "http://unitsofmeasure.org", "code": "{pill}"}
    dosage: dict[str, Any] = {"timing": {"repeat": {"frequency": 1, "period": 1}}}
    resource["dosageInstruction"] = [dosage]
    if _version_at_least(fhir_version, "4.0.0"):
        dosage["doseAndRate"] = [{"doseQuantity": dose_quantity}]
    else:
        dosage["doseQuantity"] = dose_quantity
    dosage["timing"]["repeat"]["periodUnit" if stu3_or_higher else "periodUnits"] = "d"
    if with_dispense_request:
        resource["dispenseRequest"] = {
            "expectedSupplyDuration": {
                "value": 30,
                "unit": "days",
                "system": "http://unitsofmeasure.org",
                "code": "d",
            }
        }
        resource["intent"] = "order"
        resource["category"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                    "code": "community",
                }
            ]
        }
    code, name = medication
    resource["medicationCodeableConcept"] = {
        "text": name,
        "coding": [{"display": name, "system": RXNORM, "code": code}],
    }
    return resource


def sandbox_request(
    hook: str,
    version: str,
    *,
    patient_id: str,
    fhir_server: str,
    medication: tuple[str, str],
    with_dispense_request: bool,
    today: date,
) -> dict[str, Any]:
    """The body ``callServices`` posts for the Rx Sign (order-sign) or Rx View (order-select)
    tab; the open FHIR server gives no ``fhirAuthorization``, and prefetch is left out as the
    sandbox does for keys it could not fetch."""
    resource = create_fhir_resource(
        _VERSIONS[version],
        patient_id,
        medication,
        with_dispense_request=with_dispense_request,
        today=today,
    )
    context: dict[str, Any] = {
        "patientId": patient_id,
        "userId": "Practitioner/COREPRACTITIONER1",
        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": resource}]},
    }
    if hook == "order-select":
        context["selections"] = [f"{resource['resourceType']}/{resource['id']}"]
    return {
        "hookInstance": str(uuid.uuid4()),
        "hook": hook,
        "fhirServer": fhir_server,
        "context": context,
    }
