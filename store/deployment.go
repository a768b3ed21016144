package store

import (
	"context"
	"fmt"
	"time"
)

// DeploymentID returns this database's deployment id, making it the first
// time it is asked for (any number of processes may ask at once: the
// first insert wins and every process reads the same id). cmd/lunas claims
// the Redis database for it at start (redisconn.Claim).
func DeploymentID(ctx context.Context, q Querier) (string, error) {
	// Two statements, not one: a statement that inserts and reads in one
	// snapshot finds nothing when another process's insert committed while
	// it waited on the conflict (serve and work starting together).
	if _, err := q.Exec(ctx, `INSERT INTO deployment (id, created_at) VALUES ($1, $2) ON CONFLICT (one) DO NOTHING`,
		NewID("dep"), time.Now().UTC()); err != nil {
		return "", fmt.Errorf("store: deployment id: %w", Unavailable(err))
	}
	var id string
	if err := q.QueryRow(ctx, `SELECT id FROM deployment`).Scan(&id); err != nil {
		return "", fmt.Errorf("store: deployment id: %w", Unavailable(err))
	}
	return id, nil
}
