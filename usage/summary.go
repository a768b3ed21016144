package usage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/tariff"
)

// unavailable marks a database failure as an outage but lets domain errors
// (an unknown account) through as they are.
func unavailable(err error) error {
	var le *lunas.Error
	if err == nil || errors.As(err, &le) {
		return err
	}
	return store.Unavailable(err)
}

// CategorySummary is one category's usage in a period.
type CategorySummary struct {
	Conversations int64 `json:"conversations"` // conversation-card charges that stand (charged, not refunded)
	Amount        int64 `json:"amount"`        // the sum of the charges that stand (both models), IDR
	Refunded      int64 `json:"refunded"`      // given back, IDR (under a message card also what Meta's status trued up)
	// Under a message card: the messages charged that stand, and the free
	// ones by Meta's pricing type (free_customer_service, free_entry_point).
	Messages int64            `json:"messages"`
	Free     map[string]int64 `json:"free,omitempty"`
}

// Summary is GET /v1/accounts/{id}/usage.
type Summary struct {
	From, To   time.Time
	Categories map[string]CategorySummary
	Visitors   int64
	Meta       MetaCorrections
}

// MetaCorrections is what Meta's status webhooks changed in a period: the
// messages the app reported whose charge Meta's pricing changed (category,
// free type or price) and by how much in all (signed, IDR), and the
// billable messages the app never reported, charged at delivery.
type MetaCorrections struct {
	Corrected        int64 `json:"corrected"`
	Correction       int64 `json:"correction"`
	Unreported       int64 `json:"unreported"`
	UnreportedAmount int64 `json:"unreported_amount"`
}

// ParseBound reads a from/to query value: RFC 3339, or YYYY-MM-DD for the
// start of that day in LUNAS_TIMEZONE (for `to`, the end of that day: the
// day is included).
func (s *Service) ParseBound(v string, end bool) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), true
	}
	d, err := time.ParseInLocation("2006-01-02", v, s.loc)
	if err != nil {
		return time.Time{}, false
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d.UTC(), true
}

// DefaultPeriod is the current calendar month so far.
func (s *Service) DefaultPeriod() (from, to time.Time) {
	now := s.clock.Now()
	from, _ = (&engine{loc: s.loc}).month(now)
	return from, now
}

// Summary sums an account's usage for events whose time is in [from, to).
func (s *Service) Summary(ctx context.Context, accountID string, from, to time.Time) (Summary, error) {
	sum := Summary{From: from, To: to, Categories: map[string]CategorySummary{}}
	for _, c := range tariff.ConversationCategories() {
		sum.Categories[c] = CategorySummary{}
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, accountID).Scan(&exists); err != nil {
		return sum, store.Unavailable(err)
	}
	if !exists {
		return sum, lunas.E(lunas.KindNotFound, "account %q not found", accountID)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT coalesce(category, ''), kind = 'visitor', pricing_type IS NOT NULL,
		       count(*) FILTER (WHERE refunded = 0), coalesce(sum(amount) FILTER (WHERE refunded = 0), 0), coalesce(sum(refunded), 0)
		FROM usage_events
		WHERE account_id = $1 AND at >= $2 AND at < $3 AND outcome = 'charged'
		GROUP BY 1, 2, 3`, accountID, from, to)
	if err != nil {
		return sum, store.Unavailable(err)
	}
	defer rows.Close()
	for rows.Next() {
		var cat string
		var visitor, message bool
		var n, amount, refunded int64
		if err := rows.Scan(&cat, &visitor, &message, &n, &amount, &refunded); err != nil {
			return sum, store.Unavailable(err)
		}
		if visitor {
			sum.Visitors += n
			continue
		}
		cs := sum.Categories[cat]
		if message {
			cs.Messages += n
		} else {
			cs.Conversations += n
		}
		cs.Amount += amount
		cs.Refunded += refunded
		sum.Categories[cat] = cs
	}
	if err := rows.Err(); err != nil {
		return sum, store.Unavailable(err)
	}
	if err := s.pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE p.seq IS NOT NULL AND (s.outcome <> p.outcome OR s.amount <> p.amount OR s.category IS DISTINCT FROM p.category)),
		       coalesce(sum(CASE WHEN s.outcome = 'charged' THEN s.amount ELSE 0 END - CASE WHEN p.outcome = 'charged' THEN p.amount ELSE 0 END) FILTER (WHERE p.seq IS NOT NULL), 0),
		       count(*) FILTER (WHERE p.seq IS NULL AND s.outcome = 'charged'),
		       coalesce(sum(s.amount) FILTER (WHERE p.seq IS NULL AND s.outcome = 'charged'), 0)
		FROM usage_events s
		LEFT JOIN LATERAL (SELECT * FROM usage_events p WHERE p.account_id = s.account_id AND p.event_id = s.event_id AND p.kind IN ('send', 'reply') LIMIT 1) p ON true
		WHERE s.account_id = $1 AND s.kind = 'status' AND s.at >= $2 AND s.at < $3`, accountID, from, to).
		Scan(&sum.Meta.Corrected, &sum.Meta.Correction, &sum.Meta.Unreported, &sum.Meta.UnreportedAmount); err != nil {
		return sum, store.Unavailable(err)
	}
	// Free messages under a message card, once per message: Meta's status
	// where it came, else what the send was.
	rows, err = s.pool.Query(ctx, `
		SELECT coalesce(category, ''), pricing_type, count(DISTINCT event_id)
		FROM usage_events u
		WHERE account_id = $1 AND at >= $2 AND at < $3 AND outcome = 'free' AND pricing_type IS NOT NULL AND kind IN ('send', 'reply', 'status')
		  AND (kind = 'status' OR NOT EXISTS (SELECT 1 FROM usage_events m WHERE m.account_id = u.account_id AND m.event_id = u.event_id AND m.kind = 'status'))
		GROUP BY 1, 2`, accountID, from, to)
	if err != nil {
		return sum, store.Unavailable(err)
	}
	defer rows.Close()
	for rows.Next() {
		var cat, typ string
		var n int64
		if err := rows.Scan(&cat, &typ, &n); err != nil {
			return sum, store.Unavailable(err)
		}
		if cat == "" {
			continue // free group or referral traffic: a category no card prices
		}
		cs := sum.Categories[cat]
		if cs.Free == nil {
			cs.Free = map[string]int64{}
		}
		cs.Free[typ] += n
		sum.Categories[cat] = cs
	}
	return sum, store.Unavailable(rows.Err())
}

// ReconcileInput is the body of POST /v1/accounts/{id}/reconciliations.
type ReconcileInput struct {
	Period    string `json:"period"`
	Billed    *int64 `json:"billed"`
	Reference string `json:"reference"`
}

// Adjustment is the adjustment a reconciliation posted.
type Adjustment struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Amount int64  `json:"amount"`
}

// Reconciliation is a month-end reconciliation.
type Reconciliation struct {
	ID         string
	AccountID  string
	Period     string
	Billed     int64
	Reference  string
	Charged    int64
	Difference int64
	Adjustment *Adjustment
	Balances   ledger.Balances
	CreatedAt  time.Time
}

// Reconcile compares the provider's bill for a month with what usage
// charged for events in that month (charged minus refunded) and posts the
// difference as a charge (billed more) or refund (billed less) adjustment.
// Once per account and period: the same body again returns the first
// result with created false; another body is a conflict.
func (s *Service) Reconcile(ctx context.Context, accountID, actor string, in ReconcileInput) (Reconciliation, bool, error) {
	now := s.clock.Now()
	if err := s.checkReconcile(in, now); err != nil {
		return Reconciliation{}, false, err
	}
	var rec Reconciliation
	var created bool
	var alerts []string
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		rec, created, alerts, err = s.reconcileIn(ctx, tx, now, accountID, actor, in, nil)
		return err
	})
	if err != nil {
		return Reconciliation{}, false, unavailable(err)
	}
	s.Announce(alerts)
	return rec, created, nil
}

// ReconcileTx is Reconcile in the caller's transaction at now (its one
// reading of the clock): four eyes (package manual) asks guard, once the
// difference is known and before anything is written, whether it may be
// posted now; guard's error is returned as it is, with nothing written,
// and the transaction still usable. A replay of a reconciliation already
// made does not ask. The caller passes the returned alerts to Announce
// after its commit.
func (s *Service) ReconcileTx(ctx context.Context, tx pgx.Tx, now time.Time, accountID, actor string, in ReconcileInput,
	guard func(difference int64) error) (rec Reconciliation, created bool, alerts []string, err error) {
	if err := s.checkReconcile(in, now); err != nil {
		return Reconciliation{}, false, nil, err
	}
	return s.reconcileIn(ctx, tx, now, accountID, actor, in, guard)
}

// Announce reports committed low-balance alerts (Alerted).
func (s *Service) Announce(alerts []string) {
	for _, b := range alerts {
		if s.Alerted != nil {
			s.Alerted(b)
		}
	}
}

// checkReconcile reports every field of in that is wrong at now.
func (s *Service) checkReconcile(in ReconcileInput, now time.Time) error {
	var ve lunas.ValidationError
	start, err := time.ParseInLocation("2006-01", in.Period, s.loc)
	if err != nil || start.Format("2006-01") != in.Period {
		ve.Add("period", "must be a month, YYYY-MM")
	}
	if in.Billed == nil {
		ve.Add("billed", "is required (whole rupiah)")
	} else if *in.Billed < 0 || *in.Billed > 1_000_000_000_000 {
		ve.Add("billed", "must be a whole number of rupiah, 0 or more")
	}
	if len(in.Reference) > 200 || strings.ContainsAny(in.Reference, "\r\n") {
		ve.Add("reference", "must be one line of at most 200 characters")
	}
	if err := ve.Err(); err != nil {
		return err
	}
	if end := start.AddDate(0, 1, 0); now.Before(end) {
		return &lunas.ValidationError{Fields: []lunas.FieldError{{Field: "period",
			Message: fmt.Sprintf("%s has not ended yet: reconcile a month once the provider has billed it", in.Period)}}}
	}
	return nil
}

// reconcileIn does the reconciliation in tx; in is valid at now.
func (s *Service) reconcileIn(ctx context.Context, tx pgx.Tx, now time.Time, accountID, actor string, in ReconcileInput,
	guard func(difference int64) error) (rec Reconciliation, created bool, alerts []string, err error) {
	start, _ := time.ParseInLocation("2006-01", in.Period, s.loc)
	end := start.AddDate(0, 1, 0)
	err = func() error {
		before, st, err := ledger.Lock(ctx, tx, accountID)
		if err != nil {
			return unavailable(err)
		}
		rec, err = loadReconciliation(ctx, tx, accountID, in.Period)
		if err == nil {
			if rec.Billed != *in.Billed || rec.Reference != in.Reference {
				return lunas.E(lunas.KindConflict, "%s of account %s was reconciled already (billed %d, reference %q)", in.Period, accountID, rec.Billed, rec.Reference)
			}
			rec.Balances = before
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		rec = Reconciliation{ID: store.NewID("rec"), AccountID: accountID, Period: in.Period, Billed: *in.Billed, Reference: in.Reference, CreatedAt: now}
		if err := tx.QueryRow(ctx, `
			SELECT coalesce(sum(amount - refunded), 0) FROM usage_events
			WHERE account_id = $1 AND at >= $2 AND at < $3 AND outcome = 'charged' AND kind IN ('send', 'reply', 'status')`,
			accountID, start.UTC(), end.UTC()).Scan(&rec.Charged); err != nil {
			return err
		}
		rec.Difference = rec.Billed - rec.Charged
		if guard != nil {
			if err := guard(rec.Difference); err != nil {
				return err
			}
		}
		after := before
		var adjID *string
		if rec.Difference != 0 {
			adj := Adjustment{ID: store.NewID("adj"), Kind: ledger.AdjustCharge, Amount: rec.Difference}
			if rec.Difference < 0 {
				adj.Kind, adj.Amount = ledger.AdjustRefund, -rec.Difference
			}
			reason := "reconciliation " + in.Period
			if in.Reference != "" {
				reason += " (" + in.Reference + ")"
			}
			if err := account.Record(ctx, tx, account.Adjustment{ID: adj.ID, AccountID: accountID, Product: ledger.BalanceWA,
				Kind: adj.Kind, Amount: adj.Amount, Reason: reason, Actor: actor, CreatedAt: now}); err != nil {
				return err
			}
			if after, err = ledger.Reconcile(ctx, tx, now, accountID, rec.ID, adj.ID, adj.Kind, adj.Amount, reason); err != nil {
				return err
			}
			rec.Adjustment, adjID = &adj, &adj.ID
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO reconciliations (id, account_id, period, billed, reference, charged, difference, adjustment_id, actor, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
			rec.ID, accountID, in.Period, rec.Billed, rec.Reference, rec.Charged, rec.Difference, adjID, actor, now); err != nil {
			return err
		}
		rec.Balances = after
		created = true
		alerts, err = s.checkAlerts(ctx, tx, accountID, now, before, after, st)
		return err
	}()
	if err != nil {
		return Reconciliation{}, false, nil, err
	}
	return rec, created, alerts, nil
}

func loadReconciliation(ctx context.Context, q store.Querier, accountID, period string) (Reconciliation, error) {
	var r Reconciliation
	var adjID, adjKind *string
	var adjAmount *int64
	err := q.QueryRow(ctx, `
		SELECT r.id, r.account_id, r.period, r.billed, r.reference, r.charged, r.difference, r.created_at, a.id, a.kind, a.amount
		FROM reconciliations r LEFT JOIN adjustments a ON a.id = r.adjustment_id
		WHERE r.account_id = $1 AND r.period = $2`, accountID, period).
		Scan(&r.ID, &r.AccountID, &r.Period, &r.Billed, &r.Reference, &r.Charged, &r.Difference, &r.CreatedAt, &adjID, &adjKind, &adjAmount)
	if adjID != nil {
		r.Adjustment = &Adjustment{ID: *adjID, Kind: *adjKind, Amount: *adjAmount}
	}
	return r, err
}
