-- +goose Up
-- A service key's scope on the SpiceDB API ('check' or 'write'); '' is a
-- user's key, for Nexus's own API.
ALTER TABLE identity_api_keys ADD COLUMN scope TEXT COLLATE "C" NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE identity_api_keys DROP COLUMN scope;
