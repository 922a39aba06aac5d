"""Twilio's official Python helper library (twilio-python) driving flexroute's Twilio emulator.

The library builds its requests from Twilio's own specs, so an emulator it can use unchanged
speaks Twilio's API as Twilio's SDKs see it: names of form parameters, booleans, repeated list
parameters, paging through `meta.next_page_url`, error bodies (`TwilioRestException`), headers
(`Ui-Version`, `X-Twilio-Webhook-Enabled`).

Run by `tests/api/emulator/helper_library.rs`, which installs the library into a virtualenv
under the target directory, starts `flexroute emulator` on a free loopback port and passes:

    FLEXROUTE_EMULATOR_URL   http://127.0.0.1:PORT
    TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_API_KEY, TWILIO_API_SECRET

Requests the library addresses to conversations.twilio.com or flex-api.twilio.com go to the
emulator instead (a `TwilioHttpClient` that rewrites the URL's origin and nothing else); any
other destination fails the run. The last line printed is a JSON summary the Rust test checks
against the emulator.
"""

import json
import os
import sys
from urllib.parse import urlsplit, urlunsplit

import twilio
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

TWILIO_HOSTS = {"conversations.twilio.com", "flex-api.twilio.com"}
CHAT_SERVICE = "IS00000000000000000000000000000001"
STUDIO_FLOW = "FW00000000000000000000000000000002"


class EmulatorHttpClient(TwilioHttpClient):
    """Sends the library's requests for Twilio's Conversations and Flex hosts to the emulator,
    keeping path and query; records (method, host asked for, path) of each."""

    def __init__(self, base):
        super().__init__(timeout=10)
        self.base = urlsplit(base)
        self.requests = []

    def request(self, method, url, params=None, data=None, headers=None, auth=None,
                timeout=None, allow_redirects=False):
        parts = urlsplit(url)
        if parts.hostname in TWILIO_HOSTS:
            url = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, ""))
        elif parts.netloc != self.base.netloc:
            raise AssertionError(f"the library asked for {url}, which the emulator does not serve")
        self.requests.append((method, parts.hostname, parts.path))
        return super().request(method, url, params=params, data=data, headers=headers,
                               auth=auth, timeout=timeout, allow_redirects=allow_redirects)


checks = 0


def check(condition, what):
    global checks
    if not condition:
        raise AssertionError(what)
    checks += 1


def refused(call, status, code):
    """Runs `call`, which must fail with Twilio's error `status`/`code`."""
    try:
        call()
    except TwilioRestException as e:
        check(e.status == status and e.code == code, f"expected {status}/{code}, got {e.status}/{e.code}: {e.msg}")
        return e
    raise AssertionError(f"expected {status}/{code}, got a success")


def main():
    env = os.environ
    http = EmulatorHttpClient(env["FLEXROUTE_EMULATOR_URL"])
    account = env["TWILIO_ACCOUNT_SID"]
    by_key = Client(env["TWILIO_API_KEY"], env["TWILIO_API_SECRET"], account, http_client=http)
    by_token = Client(account, env["TWILIO_AUTH_TOKEN"], http_client=http)
    addresses = by_key.conversations.v1.address_configurations

    # Create: chat addresses as Flex web chat needs them, one with a webhook, one SMS number.
    created = []
    for n in range(5):
        address = addresses.create(
            type="chat",
            address=f"flexroute-helper-{n}",
            friendly_name=f"helper {n}",
            auto_creation_enabled=True,
            auto_creation_type="studio",
            auto_creation_conversation_service_sid=CHAT_SERVICE,
            auto_creation_studio_flow_sid=STUDIO_FLOW,
            auto_creation_studio_retry_count=1,
        )
        check(address.sid.startswith("IG") and len(address.sid) == 34, address.sid)
        check(address.account_sid == account, address.account_sid)
        check(address.type == "chat" and address.address == f"flexroute-helper-{n}", address.address)
        check(address.auto_creation["enabled"] is True, address.auto_creation)
        check(address.auto_creation["studio_flow_sid"] == STUDIO_FLOW, address.auto_creation)
        check(address.date_created is not None, "date_created parses as a datetime")
        created.append(address.sid)
    hooked = addresses.create(
        type="chat",
        address="flexroute-helper-webhook",
        auto_creation_enabled=True,
        auto_creation_type="webhook",
        auto_creation_webhook_url="https://example.com/hook",
        auto_creation_webhook_method="post",
        auto_creation_webhook_filters=["onParticipantAdded", "onMessageAdded"],
        address_country="CA",
    )
    check(hooked.auto_creation["webhook_method"] == "POST", hooked.auto_creation)
    check(hooked.auto_creation["webhook_filters"] == ["onParticipantAdded", "onMessageAdded"],
          hooked.auto_creation)
    created.append(hooked.sid)
    sms = addresses.create(type="sms", address="+15550100")
    check(sms.auto_creation is None and sms.friendly_name is None, "no auto-creation data")
    refused(lambda: addresses.create(type="chat", address="flexroute-helper-0"), 409, 20409)
    refused(lambda: addresses.create(type="fax", address="x"), 400, 20001)

    # List with small pages: the library follows next_page_url.
    before = len(http.requests)
    listed = addresses.list(type="chat", page_size=2)
    check([a.sid for a in listed] == created, f"listed {[a.sid for a in listed]}")
    pages = [r for r in http.requests[before:] if r[2] == "/v1/Configuration/Addresses"]
    check(len(pages) == 3, f"{len(pages)} pages of 2 for 6 chat addresses")
    first = addresses.page(type="chat", page_size=4)
    second = first.next_page()
    check(len(list(first)) == 4 and len(list(second)) == 2 and second.next_page() is None, "pages")
    check([a.sid for a in addresses.list(type="sms")] == [sms.sid], "type filter")
    check(len(addresses.list(limit=3, page_size=2)) == 3, "limit")
    # The library reports a refused page as a bare TwilioException with the response.
    try:
        addresses.list(page_size=51)
        raise AssertionError("a page of 51 was served")
    except TwilioRestException:
        raise
    except TwilioException as e:
        response = e.args[1]
        check(response.status_code == 400 and json.loads(response.text)["code"] == 20007, response.text)

    # Fetch by SID and by address, update, delete.
    fetched = addresses(created[2]).fetch()
    check(fetched.address == "flexroute-helper-2", fetched.address)
    check(addresses("+15550100").fetch().sid == sms.sid, "fetch by address")
    updated = addresses(created[2]).update(friendly_name="renamed", auto_creation_enabled=False)
    check(updated.friendly_name == "renamed", updated.friendly_name)
    check(updated.auto_creation["enabled"] is False, updated.auto_creation)
    check(updated.date_updated >= fetched.date_updated, "date_updated moves on")
    again = addresses("flexroute-helper-2").update(auto_creation_enabled=True)
    check(again.auto_creation["enabled"] is True and again.sid == created[2], again.auto_creation)
    check(addresses(created[4]).delete() is True, "delete")
    refused(lambda: addresses(created[4]).fetch(), 404, 20404)
    check(addresses("+15550100").delete() is True, "delete by address")
    remaining = [sid for sid in created if sid != created[4]]

    # Web chats, with the Auth Token this time.
    web_channels = by_token.flex_api.v2.web_channels
    data = {"friendly_name": "Larry", "email": "larry@example.com"}
    chat = web_channels.create(
        address_sid=created[0],
        chat_friendly_name="LoquaciousLarry",
        customer_friendly_name="LarryDavid",
        pre_engagement_data=json.dumps(data),
        identity="helper-guest",
        ui_version="3.2.0",
    )
    check(chat.conversation_sid.startswith("CH") and len(chat.conversation_sid) == 34, chat.conversation_sid)
    check(chat.identity == "helper-guest", chat.identity)
    anonymous = web_channels.create(address_sid=created[1])
    check(anonymous.identity and anonymous.identity != "helper-guest", anonymous.identity)
    too_large = json.dumps({"note": "x" * (16 * 1024)})
    error = refused(lambda: web_channels.create(address_sid=created[0], pre_engagement_data=too_large), 400, 45731)
    check("too large" in error.msg, error.msg)
    refused(lambda: web_channels.create(address_sid="IG0123456789abcdef0123456789abcdef"), 400, 45765)

    # A message into the web chat's conversation, asking for webhooks.
    messages = by_key.conversations.v1.conversations(chat.conversation_sid).messages
    message = messages.create(author="helper-guest", body="Bonjour", x_twilio_webhook_enabled="true")
    check(message.sid.startswith("IM") and message.index == 0, f"{message.sid} {message.index}")
    check(message.author == "helper-guest" and message.body == "Bonjour", message.body)
    check(message.participant_sid and message.participant_sid.startswith("MB"), message.participant_sid)
    check(message.conversation_sid == chat.conversation_sid, message.conversation_sid)
    check(messages.create(body="second").index == 1, "second message")
    refused(lambda: by_key.conversations.v1.conversations("CH0123456789abcdef0123456789abcdef")
            .messages.create(body="x"), 404, 20404)

    hosts = sorted({host for _, host, _ in http.requests if host in TWILIO_HOSTS})
    check(hosts == sorted(TWILIO_HOSTS), f"asked for {hosts}")
    print(f"twilio-python {twilio.__version__}: {checks} checks passed, {len(http.requests)} requests")
    print(json.dumps({
        "chat_addresses": remaining,
        "conversation_sid": chat.conversation_sid,
        "twilio": twilio.__version__,
    }))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line the Rust test shows, and a non-zero exit
        print(f"twilio helper library check failed: {type(e).__name__}: {e}", file=sys.stderr)
        raise
