-- Low-stock mail: each alert records its e-mail's fate, and cron triggers fire once per schedule.

-- mail_status: pending (to send, from mail_next_at) -> sending (claimed by one mailer until
-- mail_next_at, a lease) -> sent | failed (attempts exhausted) | skipped (back in stock before any
-- mail went out). Alerts raised before this migration are history, not news: they are 'skipped'.
ALTER TABLE alerts
    ADD COLUMN mail_status     text NOT NULL DEFAULT 'pending'
        CHECK (mail_status IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
    ADD COLUMN mail_attempts   integer NOT NULL DEFAULT 0,
    ADD COLUMN mail_next_at    timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN mail_sent_at    timestamptz,
    ADD COLUMN mail_last_error text;
UPDATE alerts SET mail_status = 'skipped';
-- what a mailer looks for: few rows, found without reading the whole history
CREATE INDEX alerts_mail_due_idx ON alerts (mail_next_at) WHERE mail_status IN ('pending', 'sending');

-- One row per cron trigger and scheduled minute: the first scheduler to insert it runs the trigger,
-- so several gateways running side by side fire each schedule once.
CREATE TABLE cron_runs (
    trigger       text NOT NULL,
    scheduled_at  timestamptz NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trigger, scheduled_at)
);
