-- Failed logins, counted per client wherever they arrive (every webapp and
-- coreapp shares the limit through this table).
CREATE TABLE login_failures (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    client VARCHAR(64) NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX login_failures_client ON login_failures (client, at_ms);
CREATE INDEX login_failures_at ON login_failures (at_ms);

-- User names are unique regardless of case. Names that already differ only
-- by case are kept: the first of each group gets the key, the others none
-- (coreapps report them at start).
ALTER TABLE users ADD COLUMN name_key VARCHAR(32) NULL;
UPDATE users SET name_key = LOWER(username)
    WHERE username IN (SELECT MIN(username) FROM users GROUP BY LOWER(username));
CREATE UNIQUE INDEX users_name_key ON users (name_key);
