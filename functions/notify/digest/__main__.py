"""notify/digest (scheduled, daily) — retry unsent alert mail, then mail one summary of everything
below threshold and of alerts whose mail failed; nothing is sent when there is nothing to report."""

from shared.http import action
from shared.services import notify


@action()
def main(params):
    return notify.digest()
