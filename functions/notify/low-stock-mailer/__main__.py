"""notify/low-stock-mailer — mail the low-stock alerts it is given, or every unsent one.

Invoked asynchronously by the write that raised an alert ({"alert_ids": [...]}), every few minutes
by its trigger ({}: retry what is due), or over HTTP at its function URL with X-Require-Whisk-Auth.
"""

from shared import errors
from shared.http import action
from shared.services import notify


@action(secret="mailer_secret")
def main(params):
    ids = params.get("alert_ids")
    if ids is not None and not (isinstance(ids, list) and all(type(i) is int for i in ids)):
        raise errors.ValidationFailed([{"loc": ["body", "alert_ids"], "msg": "A list of alert ids",
                                        "type": "list_type"}])
    return notify.send_alerts(ids)
