// Package manual is money moved by hand — finance's adjustments (a charge
// or a refund by hand) and month-end reconciliations — under four eyes and
// the audit log (API.md "People, roles and approvals"; issue 26).
//
// An adjustment, or a reconciliation's difference, up to the threshold
// (LUNAS_APPROVAL_THRESHOLD) moves the money at once, as before; above
// it, it is recorded pending_approval (people.Approvals) and moves nothing
// until another approver approves it, in the transaction that records the
// decision. Every request, adjustment, reconciliation and decision is one
// audit row in the same transaction as the change, and every request and
// decision is an event to the app (approval.requested, approval.decided)
// through the webhook outbox, also in that transaction.
//
// The console and the API both call it, so the rule lives once. It owns
// no table: the approvals and the audit log are package people's, the
// adjustment account's, the reconciliation usage's, the events webhook's,
// each written through its owner's typed calls in this package's
// transaction.
package manual

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/people"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/usage"
	"github.com/lunas-id/lunas/webhook"
)

// Options configure a Service.
type Options struct {
	Pool     *store.DB
	Clock    clock.Clock
	Accounts *account.Service
	Usage    *usage.Service // reconciliations; nil: none here
	// Threshold: an adjustment of more rupiah waits for a second approver
	// (people.NeedsApproval).
	Threshold int64
}

// Service moves money by hand under four eyes.
type Service struct {
	pool      *store.DB
	clock     clock.Clock
	accounts  *account.Service
	usage     *usage.Service
	threshold int64
	approvals *people.Approvals
	audit     *people.AuditLog
}

// New returns a Service; its approvals carry out what is approved.
func New(o Options) *Service {
	s := &Service{pool: o.Pool, clock: o.Clock, accounts: o.Accounts, usage: o.Usage, threshold: o.Threshold, audit: people.NewAuditLog(o.Pool, o.Clock)}
	s.approvals = people.NewApprovals(o.Pool, o.Clock, people.ExecutorFunc(s.execute))
	return s
}

// Threshold is the amount above which a request waits for approval.
func (s *Service) Threshold() int64 { return s.threshold }

// Actor is who asks, and from where: a person's e-mail, or
// people.TokenActor of the finance token.
type Actor struct {
	Name string
	Addr string
}

// Result is what an adjustment request came to: the adjustment made at
// once, or the approval it waits for (exactly one is set).
type Result struct {
	Adjustment *account.Adjustment
	Approval   *people.Approval
}

// approvalKind is the kind of approval an adjustment of kind k asks for.
func approvalKind(k string) people.ApprovalKind {
	if k == ledger.AdjustRefund {
		return people.KindRefund
	}
	return people.KindAdjustment
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("manual: marshal %T: %v", v, err)) // plain structs: cannot fail
	}
	return b
}

// Adjust posts in on the account now when it is within the threshold, or
// records it for approval when it is above; either way with its audit row
// in the same transaction.
func (s *Service) Adjust(ctx context.Context, accountID string, by Actor, in account.AdjustmentInput) (Result, error) {
	if err := account.ValidateAdjustment(in); err != nil {
		return Result{}, err
	}
	if _, err := s.accounts.Get(ctx, accountID); err != nil {
		return Result{}, err
	}
	var res Result
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		res = Result{}
		now := s.clock.Now()
		if !people.NeedsApproval(in.Amount, s.threshold) {
			adj, err := s.accounts.AdjustTx(ctx, tx, now, accountID, by.Name, in)
			if err != nil {
				return err
			}
			res.Adjustment = &adj
			return s.audit.Record(ctx, tx, people.AuditEntry{Actor: by.Name, At: now, Addr: by.Addr, Action: "adjustment.create",
				Object: adj.ID, After: mustJSON(adj)})
		}
		a, err := s.approvals.Request(ctx, tx, people.ApprovalRequest{Kind: approvalKind(in.Kind), AccountID: accountID, Amount: in.Amount,
			Payload: mustJSON(in), RequestedBy: by.Name})
		if err != nil {
			return err
		}
		res.Approval = &a
		return s.requested(ctx, tx, a, by, now)
	})
	return res, err
}

// ReconcileResult is what a reconciliation request came to: the
// reconciliation (Created false for a replay of one already made), or the
// approval it waits for.
type ReconcileResult struct {
	Reconciliation *usage.Reconciliation
	Created        bool
	Approval       *people.Approval
}

// errWaits stops a reconciliation whose difference needs a second approver
// before anything is written.
var errWaits = errors.New("manual: the difference waits for approval")

// Reconcile posts a month-end reconciliation (usage.ReconcileTx) when its
// difference is within the threshold, or records it for approval when it
// is above — the difference is known only inside the reconciliation's
// transaction, which the request then commits instead; either way with
// its audit row.
func (s *Service) Reconcile(ctx context.Context, accountID string, by Actor, in usage.ReconcileInput) (ReconcileResult, error) {
	if s.usage == nil {
		return ReconcileResult{}, lunas.E(lunas.KindNotFound, "usage billing is not configured")
	}
	var res ReconcileResult
	var alerts []string
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		res, alerts = ReconcileResult{}, nil
		now := s.clock.Now()
		var diff int64
		rec, created, al, err := s.usage.ReconcileTx(ctx, tx, now, accountID, by.Name, in, func(d int64) error {
			if people.NeedsApproval(d, s.threshold) {
				diff = d
				return errWaits
			}
			return nil
		})
		switch {
		case errors.Is(err, errWaits):
			a, err := s.approvals.Request(ctx, tx, people.ApprovalRequest{Kind: people.KindReconciliation, AccountID: accountID,
				Amount: diff, Payload: mustJSON(in), RequestedBy: by.Name})
			if err != nil {
				return err
			}
			res.Approval = &a
			return s.requested(ctx, tx, a, by, now)
		case err != nil:
			return err
		}
		res.Reconciliation, res.Created, alerts = &rec, created, al
		if !created {
			return nil
		}
		return s.audit.Record(ctx, tx, people.AuditEntry{Actor: by.Name, At: now, Addr: by.Addr, Action: "reconciliation.create",
			Object: rec.ID, After: mustJSON(rec)})
	})
	if err != nil {
		return ReconcileResult{}, err
	}
	s.usage.Announce(alerts)
	return res, nil
}

// requested records a new request's audit row and its event to the app
// (approval.requested) in the request's transaction.
func (s *Service) requested(ctx context.Context, tx pgx.Tx, a people.Approval, by Actor, now time.Time) error {
	if err := s.audit.Record(ctx, tx, people.AuditEntry{Actor: by.Name, At: now, Addr: by.Addr, Action: "approval.request",
		Object: a.ID, After: mustJSON(a)}); err != nil {
		return err
	}
	return webhook.EmitJSON(ctx, tx, webhook.ApprovalRequested, a.ID, a, now)
}

// execute carries out an approved request in the decision's transaction;
// the actor of what it posts is the requester (the decider is on the
// approval), and it gets its own audit row.
func (s *Service) execute(ctx context.Context, tx pgx.Tx, a people.Approval) error {
	if a.Kind == people.KindReconciliation {
		return s.executeReconciliation(ctx, tx, a)
	}
	var in account.AdjustmentInput
	if err := json.Unmarshal(a.Payload, &in); err != nil {
		return fmt.Errorf("manual: approval %s: payload: %w", a.ID, err)
	}
	now := s.clock.Now()
	adj, err := s.accounts.AdjustTx(ctx, tx, now, a.AccountID, a.RequestedBy, in)
	if err != nil {
		return err
	}
	return s.audit.Record(ctx, tx, people.AuditEntry{Actor: a.DecidedBy, At: now, Action: "adjustment.create", Object: adj.ID,
		After: mustJSON(map[string]any{"adjustment": adj, "approval_id": a.ID})})
}

// executeReconciliation posts an approved reconciliation, whatever its
// difference now (usage reported since the request counts); a period
// reconciled meanwhile is a conflict, and the approval is not recorded.
func (s *Service) executeReconciliation(ctx context.Context, tx pgx.Tx, a people.Approval) error {
	if s.usage == nil {
		return lunas.E(lunas.KindNotFound, "usage billing is not configured")
	}
	var in usage.ReconcileInput
	if err := json.Unmarshal(a.Payload, &in); err != nil {
		return fmt.Errorf("manual: approval %s: payload: %w", a.ID, err)
	}
	now := s.clock.Now()
	rec, created, _, err := s.usage.ReconcileTx(ctx, tx, now, a.AccountID, a.RequestedBy, in, nil)
	if err != nil {
		return err
	}
	if !created {
		return lunas.E(lunas.KindConflict, "%s of account %s was reconciled meanwhile", in.Period, a.AccountID)
	}
	return s.audit.Record(ctx, tx, people.AuditEntry{Actor: a.DecidedBy, At: now, Action: "reconciliation.create", Object: rec.ID,
		After: mustJSON(map[string]any{"reconciliation": rec, "approval_id": a.ID})})
}

// Decide records decider's decision on approval id (people.Approvals.Decide:
// an approver, never the requester, once; a rejection needs a reason),
// moves the money when approved, and records the audit row and the event
// to the app, all in one transaction.
func (s *Service) Decide(ctx context.Context, id string, decider people.User, d people.Decision, reason, addr string) (people.Approval, error) {
	var a people.Approval
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if a, err = s.approvals.Decide(ctx, tx, id, decider, d, reason); err != nil {
			return err
		}
		action := "approval.approve"
		if a.Status == people.ApprovalRejected {
			action = "approval.reject"
		}
		before := a
		before.Status, before.DecidedBy, before.DecidedAt, before.Reason = people.ApprovalPending, "", nil, ""
		if err := s.audit.Record(ctx, tx, people.AuditEntry{Actor: decider.Email, Addr: addr, Action: action, Object: a.ID,
			Before: mustJSON(before), After: mustJSON(a)}); err != nil {
			return err
		}
		return webhook.EmitJSON(ctx, tx, webhook.ApprovalDecided, a.ID, a, *a.DecidedAt)
	})
	return a, err
}

// Get returns approval id.
func (s *Service) Get(ctx context.Context, id string) (people.Approval, error) {
	return s.approvals.Get(ctx, id)
}

// List lists approvals (GET /v1/approvals, /console/approvals).
func (s *Service) List(ctx context.Context, f people.ApprovalFilter) (people.ApprovalPage, error) {
	return s.approvals.List(ctx, f)
}
