package people

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/store"
)

// AuditEntry is one change: who made it, when, from where, what, to which
// object, and the object's values before and after (JSON; nil when there
// is none, e.g. no "before" for a creation).
type AuditEntry struct {
	ID     int64           `json:"id"`     // set by the log, increasing
	Actor  string          `json:"actor"`  // a user's e-mail, or TokenActor(token)
	At     time.Time       `json:"at"`     // zero: the log's clock at Record
	Addr   string          `json:"addr"`   // the client's IP
	Action string          `json:"action"` // e.g. "adjustment.create", "approval.approve", "user.disable"
	Object string          `json:"object"` // the id of what changed, e.g. "acc_…", "apr_…", "usr_…"
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// AuditLog is the append-only log of changes. Rows are only ever
// inserted; the database refuses UPDATE, DELETE and TRUNCATE of them.
type AuditLog struct {
	pool  *store.DB
	clock clock.Clock
}

// NewAuditLog returns the audit log on pool; clk dates entries without At.
func NewAuditLog(pool *store.DB, clk clock.Clock) *AuditLog {
	return &AuditLog{pool: pool, clock: clk}
}

// TokenActor is the actor of a change made with an API token: "token:"
// and the first 4 bytes (8 hex digits) of the token's SHA-256, the same
// digits as the token's identity in package token ("finance:7314d607" is
// "token:7314d607" here). The token itself is never recorded.
func TokenActor(token string) string {
	h := sha256.Sum256([]byte(token))
	return "token:" + hex.EncodeToString(h[:4])
}

// Record appends e in the caller's transaction, so the row exists exactly
// when the change it describes commits. Actor, Action and Object are
// required; Before and After must be JSON when given.
func (a *AuditLog) Record(ctx context.Context, tx pgx.Tx, e AuditEntry) error {
	var v lunas.ValidationError
	for _, f := range []struct{ name, val string }{{"actor", e.Actor}, {"action", e.Action}, {"object", e.Object}} {
		if strings.TrimSpace(f.val) == "" {
			v.Add(f.name, "is required")
		}
	}
	if len(e.Before) > 0 && !json.Valid(e.Before) {
		v.Add("before", "is not JSON")
	}
	if len(e.After) > 0 && !json.Valid(e.After) {
		v.Add("after", "is not JSON")
	}
	if err := v.Err(); err != nil {
		// A caller's bug, not the client's: not wrapped, so it is a 500,
		// never a 400 naming fields the client did not send.
		return fmt.Errorf("people: audit entry: %s", err)
	}
	at := e.At
	if at.IsZero() {
		at = a.clock.Now()
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (at, actor, addr, action, object, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, at.UTC(), e.Actor, normAddr(e.Addr), e.Action, e.Object,
		jsonArg(e.Before), jsonArg(e.After))
	return store.Unavailable(err)
}

// jsonArg passes raw JSON to a jsonb parameter, nil as NULL.
func jsonArg(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// AuditFilter selects entries; zero fields select everything.
type AuditFilter struct {
	Actor  string    // exact
	Object string    // exact
	From   time.Time // at ≥ From
	To     time.Time // at < To
	Limit  int       // 1–500; 0: 50
	Cursor string    // AuditPage.NextCursor of the previous page
}

// AuditPage is one page of entries, newest first.
type AuditPage struct {
	Entries    []AuditEntry
	NextCursor string // "" on the last page
}

// Page sizes (API.md Conventions).
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// pageLimit checks a list's limit and cursor (a decimal sequence number).
func pageLimit(v *lunas.ValidationError, limit int, cursor string) (int, *int64) {
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		v.Add("limit", "must be between 1 and %d", MaxLimit)
	}
	if cursor == "" {
		return limit, nil
	}
	n, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil || n <= 0 {
		v.Add("cursor", "is not a cursor of this list")
		return limit, nil
	}
	return limit, &n
}

// List returns entries matching f, newest first.
func (a *AuditLog) List(ctx context.Context, f AuditFilter) (AuditPage, error) {
	var v lunas.ValidationError
	limit, after := pageLimit(&v, f.Limit, f.Cursor)
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		v.Add("to", "must be after from")
	}
	if err := v.Err(); err != nil {
		return AuditPage{}, err
	}
	rows, err := a.pool.Query(ctx, `SELECT id, at, actor, addr, action, object, before, after
		FROM audit_log
		WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR object = $2)
			AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)
			AND ($5::bigint IS NULL OR id < $5)
		ORDER BY id DESC LIMIT $6`, f.Actor, f.Object, timeArg(f.From), timeArg(f.To), after, limit+1)
	if err != nil {
		return AuditPage{}, store.Unavailable(err)
	}
	defer rows.Close()
	page := AuditPage{Entries: []AuditEntry{}}
	for rows.Next() {
		var e AuditEntry
		var before, afterJSON []byte
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Addr, &e.Action, &e.Object, &before, &afterJSON); err != nil {
			return AuditPage{}, store.Unavailable(err)
		}
		e.At, e.Before, e.After = e.At.UTC(), before, afterJSON
		page.Entries = append(page.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return AuditPage{}, store.Unavailable(err)
	}
	if len(page.Entries) > limit {
		page.Entries = page.Entries[:limit]
		page.NextCursor = strconv.FormatInt(page.Entries[limit-1].ID, 10)
	}
	return page, nil
}

// timeArg passes a time as a parameter, the zero time as NULL.
func timeArg(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
