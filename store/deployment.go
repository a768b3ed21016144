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
	var id string
	err := q.QueryRow(ctx, `
		WITH made AS (INSERT INTO deployment (id, created_at) VALUES ($1, $2) ON CONFLICT (one) DO NOTHING RETURNING id)
		SELECT id FROM made UNION ALL SELECT id FROM deployment LIMIT 1`, NewID("dep"), time.Now().UTC()).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("store: deployment id: %w", Unavailable(err))
	}
	return id, nil
}
