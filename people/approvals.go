package people

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/store"
)

// ApprovalKind is the kind of money moved by hand that may wait for a
// second pair of eyes.
type ApprovalKind string

// The kinds.
const (
	KindAdjustment     ApprovalKind = "adjustment"
	KindReconciliation ApprovalKind = "reconciliation"
	KindRefund         ApprovalKind = "refund"
)

// ApprovalKinds lists every kind.
func ApprovalKinds() []ApprovalKind {
	return []ApprovalKind{KindAdjustment, KindReconciliation, KindRefund}
}

// Valid reports whether k is one of the kinds.
func (k ApprovalKind) Valid() bool { return slices.Contains(ApprovalKinds(), k) }

// ApprovalStatus is where a request stands.
type ApprovalStatus string

// The statuses: a request is pending until decided, and decided once.
const (
	ApprovalPending  ApprovalStatus = "pending_approval"
	ApprovalApproved ApprovalStatus = "approved"
	ApprovalRejected ApprovalStatus = "rejected"
)

// ApprovalStatuses lists every status.
func ApprovalStatuses() []ApprovalStatus {
	return []ApprovalStatus{ApprovalPending, ApprovalApproved, ApprovalRejected}
}

// Valid reports whether s is one of the statuses.
func (s ApprovalStatus) Valid() bool { return slices.Contains(ApprovalStatuses(), s) }

// Decision is an approver's answer (form field `decision`).
type Decision string

// The decisions.
const (
	Approve Decision = "approve"
	Reject  Decision = "reject"
)

// NeedsApproval reports whether moving amount rupiah by hand needs a
// second approver: its size (a debit counts like a credit) strictly above
// threshold (LUNAS_APPROVAL_THRESHOLD). For a reconciliation, pass its
// difference.
func NeedsApproval(amount, threshold int64) bool {
	if amount == math.MinInt64 {
		return true // |amount| does not fit an int64; it is above any threshold
	}
	if amount < 0 {
		amount = -amount
	}
	return amount > threshold
}

// Approval is a request to move money by hand, and its decision. The JSON
// is what GET /v1/approvals lists.
type Approval struct {
	ID          string          `json:"id"`
	Kind        ApprovalKind    `json:"kind"`
	Status      ApprovalStatus  `json:"status"`
	Amount      int64           `json:"amount"` // rupiah; for a reconciliation its difference
	AccountID   string          `json:"account_id"`
	Payload     json.RawMessage `json:"payload"` // what to do once approved (the Executor reads it)
	RequestedBy string          `json:"requested_by"`
	RequestedAt time.Time       `json:"requested_at"`
	DecidedBy   string          `json:"decided_by,omitempty"`
	DecidedAt   *time.Time      `json:"decided_at,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	seq         int64
}

// ApprovalRequest asks for money to be moved once another approver
// agrees.
type ApprovalRequest struct {
	Kind        ApprovalKind
	AccountID   string
	Amount      int64
	Payload     json.RawMessage // a JSON object: what the Executor needs to carry it out
	RequestedBy string          // the actor: a user's e-mail or TokenActor(token)
}

// Executor carries out an approved request. Decide calls it inside the
// decision's transaction, so the money moves exactly when the approval
// commits, and an error rolls the approval back with it.
type Executor interface {
	Execute(ctx context.Context, tx pgx.Tx, a Approval) error
}

// ExecutorFunc makes a function an Executor.
type ExecutorFunc func(ctx context.Context, tx pgx.Tx, a Approval) error

// Execute calls f.
func (f ExecutorFunc) Execute(ctx context.Context, tx pgx.Tx, a Approval) error { return f(ctx, tx, a) }

// Approvals keeps four-eyes requests and their decisions.
type Approvals struct {
	pool  *store.DB
	clock clock.Clock
	exec  Executor
}

// NewApprovals returns Approvals on pool; exec carries out what is
// approved (the caller dispatches on Approval.Kind).
func NewApprovals(pool *store.DB, clk clock.Clock, exec Executor) *Approvals {
	return &Approvals{pool: pool, clock: clk, exec: exec}
}

// scanApproval reads the columns id, kind, status, amount, account_id,
// payload, requested_by, requested_at, decided_by, decided_at, reason, seq
// (written out in each query: SQL is literals only, see security_test.go).
func scanApproval(row pgx.Row) (Approval, error) {
	var a Approval
	var decidedBy *string
	var payload []byte
	err := row.Scan(&a.ID, &a.Kind, &a.Status, &a.Amount, &a.AccountID, &payload, &a.RequestedBy, &a.RequestedAt,
		&decidedBy, &a.DecidedAt, &a.Reason, &a.seq)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return a, err
		}
		return a, store.Unavailable(err)
	}
	a.Payload, a.RequestedAt = payload, a.RequestedAt.UTC()
	if decidedBy != nil {
		a.DecidedBy = *decidedBy
	}
	if a.DecidedAt != nil {
		t := a.DecidedAt.UTC()
		a.DecidedAt = &t
	}
	return a, nil
}

// Request records r as pending_approval in the caller's tx; nothing moves
// until Decide approves it. The caller decides that it needs approval
// (NeedsApproval) and records the audit row.
func (p *Approvals) Request(ctx context.Context, tx pgx.Tx, r ApprovalRequest) (Approval, error) {
	var v lunas.ValidationError
	if !r.Kind.Valid() {
		v.Add("kind", "must be adjustment, reconciliation or refund")
	}
	if strings.TrimSpace(r.AccountID) == "" {
		v.Add("account_id", "is required")
	}
	var obj map[string]json.RawMessage
	if len(r.Payload) == 0 || json.Unmarshal(r.Payload, &obj) != nil || obj == nil {
		v.Add("payload", "must be a JSON object")
	}
	if strings.TrimSpace(r.RequestedBy) == "" {
		v.Add("requested_by", "is required")
	}
	if err := v.Err(); err != nil {
		return Approval{}, err
	}
	a, err := scanApproval(tx.QueryRow(ctx, `
		INSERT INTO approvals (id, kind, status, account_id, amount, payload, requested_by, requested_at)
		VALUES ($1, $2, 'pending_approval', $3, $4, $5, $6, $7) RETURNING id, kind, status, amount, account_id, payload, requested_by, requested_at,
			decided_by, decided_at, reason, seq`,
		store.NewID("apr"), r.Kind, r.AccountID, r.Amount, string(r.Payload), normEmail(r.RequestedBy), p.clock.Now().UTC()))
	return a, err
}

// Decide records decider's decision on request id in the caller's tx and,
// on approval, carries it out there with the Executor. The rules:
// only an active approver or admin decides (else forbidden), never on
// their own request (forbidden), a rejection needs a reason, and a request
// is decided once (a second decision is a conflict: the update is
// conditional on the status and its row count checked). The caller
// records the audit row and the event to the app in the same tx.
func (p *Approvals) Decide(ctx context.Context, tx pgx.Tx, id string, decider User, d Decision, reason string) (Approval, error) {
	if decider.Status != UserActive || !decider.Role.Can(ActionApprove) {
		return Approval{}, lunas.E(lunas.KindForbidden, "only an approver or admin may decide on approvals")
	}
	reason = strings.TrimSpace(reason)
	var v lunas.ValidationError
	switch d {
	case Approve:
	case Reject:
		if reason == "" {
			v.Add("reason", "is required to reject")
		}
	default:
		v.Add("decision", "must be approve or reject")
	}
	if err := v.Err(); err != nil {
		return Approval{}, err
	}
	status := ApprovalApproved
	if d == Reject {
		status = ApprovalRejected
	}
	by := normEmail(decider.Email)
	a, err := scanApproval(tx.QueryRow(ctx, `
		UPDATE approvals SET status = $2, decided_by = $3, decided_at = $4, reason = $5
		WHERE id = $1 AND status = 'pending_approval' AND requested_by <> $3
		RETURNING id, kind, status, amount, account_id, payload, requested_by, requested_at,
		decided_by, decided_at, reason, seq`, id, status, by, p.clock.Now().UTC(), reason))
	if errors.Is(err, pgx.ErrNoRows) {
		var cur ApprovalStatus
		var requester string
		err := tx.QueryRow(ctx, `SELECT status, requested_by FROM approvals WHERE id = $1`, id).Scan(&cur, &requester)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return Approval{}, lunas.E(lunas.KindNotFound, "no approval %s", id)
		case err != nil:
			return Approval{}, store.Unavailable(err)
		case requester == by:
			return Approval{}, lunas.E(lunas.KindForbidden, "a request cannot be decided by the person who made it")
		default:
			return Approval{}, lunas.E(lunas.KindConflict, "approval %s is already %s", id, cur)
		}
	}
	if err != nil {
		return Approval{}, err
	}
	if status == ApprovalApproved {
		if p.exec == nil {
			return Approval{}, lunas.E(lunas.KindInternal, "approvals: no executor configured")
		}
		if err := p.exec.Execute(ctx, tx, a); err != nil {
			return Approval{}, err
		}
	}
	return a, nil
}

// Get returns the approval id.
func (p *Approvals) Get(ctx context.Context, id string) (Approval, error) {
	a, err := scanApproval(p.pool.QueryRow(ctx, `SELECT id, kind, status, amount, account_id, payload, requested_by, requested_at,
		decided_by, decided_at, reason, seq FROM approvals WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, lunas.E(lunas.KindNotFound, "no approval %s", id)
	}
	return a, err
}

// ApprovalFilter selects approvals; zero fields select everything.
type ApprovalFilter struct {
	Status    ApprovalStatus
	Kind      ApprovalKind
	AccountID string
	Limit     int    // 1–500; 0: 50
	Cursor    string // ApprovalPage.NextCursor of the previous page
}

// ApprovalPage is one page of approvals, newest request first.
type ApprovalPage struct {
	Approvals  []Approval
	NextCursor string // "" on the last page
}

// List returns the approvals matching f, newest request first.
func (p *Approvals) List(ctx context.Context, f ApprovalFilter) (ApprovalPage, error) {
	var v lunas.ValidationError
	limit, after := pageLimit(&v, f.Limit, f.Cursor)
	if f.Status != "" && !f.Status.Valid() {
		v.Add("status", "must be pending_approval, approved or rejected")
	}
	if f.Kind != "" && !f.Kind.Valid() {
		v.Add("kind", "must be adjustment, reconciliation or refund")
	}
	if err := v.Err(); err != nil {
		return ApprovalPage{}, err
	}
	rows, err := p.pool.Query(ctx, `SELECT id, kind, status, amount, account_id, payload, requested_by, requested_at,
			decided_by, decided_at, reason, seq
		FROM approvals
		WHERE ($1 = '' OR status = $1) AND ($2 = '' OR kind = $2) AND ($3 = '' OR account_id = $3)
			AND ($4::bigint IS NULL OR seq < $4)
		ORDER BY seq DESC LIMIT $5`, string(f.Status), string(f.Kind), f.AccountID, after, limit+1)
	if err != nil {
		return ApprovalPage{}, store.Unavailable(err)
	}
	defer rows.Close()
	page := ApprovalPage{Approvals: []Approval{}}
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return ApprovalPage{}, err
		}
		page.Approvals = append(page.Approvals, a)
	}
	if err := rows.Err(); err != nil {
		return ApprovalPage{}, store.Unavailable(err)
	}
	if len(page.Approvals) > limit {
		page.Approvals = page.Approvals[:limit]
		page.NextCursor = strconv.FormatInt(page.Approvals[limit-1].seq, 10)
	}
	return page, nil
}
