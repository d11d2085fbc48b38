-- The IMS schema (DESIGN.md §4). Forward-only: never edit this file once applied; add a new one.

CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    email          text NOT NULL CHECK (email = lower(email) AND length(email) <= 254),
    full_name      text NOT NULL,
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('manager', 'staff')),
    is_active      boolean NOT NULL DEFAULT false,
    -- bumped on deactivation or role change: tokens carry it and die with it
    token_version  integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE categories (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX categories_name_key ON categories (lower(name));

CREATE TABLE locations (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description  text,
    address      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX locations_name_key ON locations (lower(name));

CREATE TABLE items (
    id                   bigserial PRIMARY KEY,
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    sku                  text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    description          text,
    category_id          bigint REFERENCES categories (id) ON DELETE SET NULL,
    location_id          bigint REFERENCES locations (id) ON DELETE SET NULL,
    quantity             integer NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    unit                 text NOT NULL DEFAULT 'pcs',
    price                numeric(12, 2) CHECK (price >= 0),
    low_stock_threshold  integer NOT NULL DEFAULT 10 CHECK (low_stock_threshold >= 0),
    version              integer NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 90);
-- Stock movements change only quantity, version and updated_at. None of them is indexed, and the
-- fillfactor leaves room on each page, so a movement is a HOT update that writes no index at all.
-- Sorting or filtering by quantity / updated_at scans instead; at 100k items that costs a few ms.
CREATE UNIQUE INDEX items_sku_key ON items (lower(sku));
CREATE INDEX items_name_idx ON items (lower(name), id);
CREATE INDEX items_category_idx ON items (category_id);
CREATE INDEX items_location_idx ON items (location_id);

-- The ledger. item_id deliberately has no foreign key: the history of a deleted item stays.
CREATE TABLE inventory_logs (
    id               bigserial PRIMARY KEY,
    item_id          bigint NOT NULL,
    user_id          bigint REFERENCES users (id) ON DELETE SET NULL,
    action           text NOT NULL CHECK (action IN ('create', 'update', 'delete', 'restock', 'withdraw', 'count')),
    quantity_before  integer NOT NULL,
    quantity_after   integer NOT NULL,
    notes            text,
    request_id       text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inventory_logs_item_idx ON inventory_logs (item_id, id);
CREATE INDEX inventory_logs_user_idx ON inventory_logs (user_id, id);
CREATE INDEX inventory_logs_created_idx ON inventory_logs (created_at);

CREATE TABLE alerts (
    id               bigserial PRIMARY KEY,
    item_id          bigint NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    quantity         integer NOT NULL,
    threshold        integer NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    resolved_at      timestamptz
);
-- edge-triggered: at most one open alert per item; resolving it re-arms the item
CREATE UNIQUE INDEX alerts_open_key ON alerts (item_id) WHERE resolved_at IS NULL;
CREATE INDEX alerts_unacknowledged_idx ON alerts (id) WHERE acknowledged_at IS NULL;

CREATE TABLE refresh_tokens (
    jti         text PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family      text NOT NULL,
    expires_at  timestamptz NOT NULL,
    spent_at    timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE idempotency_keys (
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key          text NOT NULL,
    fingerprint  text NOT NULL,
    response     text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

CREATE TABLE login_failures (
    email         text PRIMARY KEY,
    failures      integer NOT NULL,
    window_start  timestamptz NOT NULL
);

-- The outbox: written in the transaction of the change, published to Redis after commit.
CREATE TABLE events (
    id            bigserial PRIMARY KEY,
    type          text NOT NULL,
    data          jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX events_unpublished_idx ON events (id) WHERE published_at IS NULL;
