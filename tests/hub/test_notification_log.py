"""The notification log operators see and repair (issue 17 item 6), against a real receiver on uvicorn, on SQLite
and PostgreSQL with a fake clock: every attempt with its status, an endpoint disabled after repeated failure with an
exception saying so, enabled again by a mutation (the exception resolves, the waiting notification goes out), and
one notification resent (audited)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.errors import ConfigError
from hub.exceptions.notify_targets import notifications_from_config
from tests.hub.test_exception_rules import FakeClock, at, ingest, listed
from tests.hub.test_notify import NOTIFY_SECRET, Receiver, receiving
from tests.support import ADMIN_KEY, OPERATOR_KEY, VIEWER_KEY, cloudevent, gql, running_app

ENDPOINTS = """{ notificationEndpoints { name enabled disabledReason consecutiveFailures disableAfterFailures
  pending delivered failed nextAttemptAt lastSuccessAt } }"""
NOTIFICATIONS = """query($endpoint: String) { notifications(endpoint: $endpoint) {
  id endpoint action state attempts lastError nextAttemptAt log { statusCode error } } }"""


@pytest.mark.asyncio
async def test_an_endpoint_failing_in_a_row_is_disabled_then_enabled_and_a_notification_resent(
        store_url: str) -> None:
    receiver = Receiver(failures=3)
    clock = FakeClock()
    async with receiving(receiver) as base:
        target = {"name": "ops", "url": f"{base}/ops", "secret": NOTIFY_SECRET, "types": ["failed"],
                  "disable_after_failures": 3}
        async with running_app(store_url, clock=clock, extra={"notifications": [target]}) as (client, hub):
            await ingest(client, hub, cloudevent("erp", "sync.failed", [("erp:so", "SO-9")], time_=at(0)))
            await hub.notifier.run_once()
            for _ in range(4):  # two more failures disable it; the fourth round sends nothing
                clock.now += timedelta(hours=1)
                await hub.notifier.send_due()
            assert len(receiver.attempts) == 3 and not receiver.accepted

            [endpoint] = (await gql(client, ENDPOINTS, key=OPERATOR_KEY))["data"]["notificationEndpoints"]
            assert (endpoint["enabled"], endpoint["consecutiveFailures"], endpoint["pending"]) == (False, 3, 1)
            assert endpoint["disableAfterFailures"] == 3 and endpoint["lastSuccessAt"] is None
            assert endpoint["disabledReason"] == "3 failed attempts in a row, the last: HTTP 500"
            [message] = (await gql(client, NOTIFICATIONS, key=OPERATOR_KEY, endpoint="ops"))["data"]["notifications"]
            assert (message["state"], message["attempts"], message["lastError"]) == ("pending", 3, "HTTP 500")
            assert message["log"] == [{"statusCode": 500, "error": "HTTP 500"}] * 3
            [disabled] = await listed(client, type=["notification_endpoint_disabled"])
            assert disabled["status"] == "open" and disabled["subject"] == "ops"
            assert disabled["evidence"]["failures"] == 3 and disabled["severity"] == "error"

            enable = 'mutation { enableNotificationEndpoint(name: "ops") }'
            assert (await gql(client, enable, key=OPERATOR_KEY))["data"]["enableNotificationEndpoint"] is True
            assert (await gql(client, enable, key=OPERATOR_KEY))["data"]["enableNotificationEndpoint"] is False
            [disabled] = await listed(client, type=["notification_endpoint_disabled"])
            assert disabled["status"] == "resolved"
            await hub.notifier.send_due()  # the waiting notification goes out at once
            [sent] = receiver.accepted
            assert sent["id"] == message["id"]

            resend = ('mutation($id: ID!) { resendNotification(id: $id) { state attempts nextAttemptAt '
                      'log { statusCode } } }')
            again = (await gql(client, resend, key=OPERATOR_KEY, id=message["id"]))["data"]["resendNotification"]
            assert (again["state"], again["attempts"], len(again["log"])) == ("pending", 0, 4)
            await hub.notifier.send_due()
            assert [m["id"] for m in receiver.accepted] == [message["id"]] * 2  # the same webhook-id: receivers dedup
            [endpoint] = (await gql(client, ENDPOINTS, key=OPERATOR_KEY))["data"]["notificationEndpoints"]
            assert (endpoint["enabled"], endpoint["consecutiveFailures"], endpoint["delivered"]) == (True, 0, 1)
            missing = await gql(client, resend, key=OPERATOR_KEY, id="msg_nope")
            assert missing["data"]["resendNotification"] is None

            log = await gql(client, "{ auditLog(first: 20) { nodes { actor action object result } } }", key=ADMIN_KEY)
            actions = [(e["action"], e["result"]) for e in log["data"]["auditLog"]["nodes"]]
            assert ("resendNotification", "ok") in actions and ("enableNotificationEndpoint", "ok") in actions
            refused = await gql(client, NOTIFICATIONS, key=VIEWER_KEY)
            assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            unknown = await gql(client, 'mutation { enableNotificationEndpoint(name: "nope") }', key=OPERATOR_KEY)
            assert "no notification endpoint named 'nope'" in unknown["errors"][0]["message"]


def test_disable_after_failures_must_be_a_whole_number() -> None:
    item = {"url": "https://ops.example.com/hook", "secret": NOTIFY_SECRET, "disable_after_failures": 0}
    with pytest.raises(ConfigError, match="disable_after_failures"):
        notifications_from_config([item], {})
    assert notifications_from_config([{**item, "disable_after_failures": 5}], {})[0].disable_after == 5
