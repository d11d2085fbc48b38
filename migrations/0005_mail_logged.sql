-- An alert's mail written to the log because no transport is configured (no SENDGRID_API_KEY, no
-- SMTP_URL) reached nobody's mailbox: it is 'logged', not 'sent'.
ALTER TABLE alerts
    DROP CONSTRAINT alerts_mail_status_check,
    ADD CONSTRAINT alerts_mail_status_check
        CHECK (mail_status IN ('pending', 'sending', 'sent', 'logged', 'failed', 'skipped'));
