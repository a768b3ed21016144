-- +goose Up
-- The deployment's identity: one random id, made once per database. A
-- Redis database records the deployment it serves (redisconn.Claim), and a
-- lunas process refuses to start — or stops — when that Redis database
-- serves another deployment: two deployments on one Redis database take
-- each other's tasks and fail them as "not found". The URL of the database
-- is not an identity (two machines' "localhost:5432/lunas" are different
-- databases); this row is.
CREATE TABLE deployment (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    id         text NOT NULL,
    created_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE deployment;
