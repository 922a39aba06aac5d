"""Twilio's own helper library, as a reference for flexroute's access tokens.

Reads one JSON request on stdin and writes one JSON answer on stdout, so a test pays for one
interpreter start whatever it checks:

    {"mint":   [{"account_sid", "api_key_sid", "secret", "identity", "service_sid", "ttl",
                 "now"?}],
     "verify": [{"token", "secret", "api_key_sid"}]}

    {"twilio": "<version>", "pyjwt": "<version>",
     "minted":   ["<jwt>", ...],
     "verified": [{"ok": true, "header": {...}, "payload": {...}} | {"ok": false, "error": "..."}]}

`mint` builds `AccessToken(account_sid, api_key_sid, secret, identity=..., ttl=...)` with one
`ChatGrant(service_sid=...)`, exactly as Twilio's docs show. The library reads the clock through
`time.time()` for `jti`, `nbf` and `exp` and takes no "now" argument: with `now` given, the clock
is pinned to it while the token is built, so the result can be compared byte for byte.

`verify` checks a token twice: with the library's own `AccessToken.from_jwt` (HS256 only,
signature, `exp`, `nbf`) and with PyJWT directly, which also requires `exp`, `nbf`, `iss` and
`sub` and checks the issuer. Both run on the real clock.

Run inside a virtualenv with the `twilio` package installed (tests/api/twilio_python.rs makes
one under target/twilio-venv).
"""

import json
import sys
import time
from importlib.metadata import version

import jwt as pyjwt
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import ChatGrant


def mint(case):
    real_time = time.time
    if case.get("now") is not None:
        pinned = float(case["now"])
        time.time = lambda: pinned
    try:
        token = AccessToken(
            case["account_sid"],
            case["api_key_sid"],
            case["secret"],
            identity=case["identity"],
            ttl=case["ttl"],
        )
        token.add_grant(ChatGrant(service_sid=case["service_sid"]))
        return token.to_jwt()
    finally:
        time.time = real_time


def verify(case):
    try:
        decoded = AccessToken.from_jwt(case["token"], key=case["secret"])
        payload = pyjwt.decode(
            case["token"],
            case["secret"],
            algorithms=["HS256"],
            issuer=case["api_key_sid"],
            options={"require": ["exp", "nbf", "iss", "sub"]},
        )
    except Exception as e:  # the test wants the reason, whatever raised it
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    if payload != decoded.payload:
        return {"ok": False, "error": "twilio and PyJWT decoded different payloads"}
    return {"ok": True, "header": decoded.headers, "payload": payload}


def main():
    request = json.load(sys.stdin)
    answer = {
        "twilio": version("twilio"),
        "pyjwt": version("PyJWT"),
        "minted": [mint(case) for case in request.get("mint", [])],
        "verified": [verify(case) for case in request.get("verify", [])],
    }
    json.dump(answer, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
