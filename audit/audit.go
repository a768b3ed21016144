// Package audit proves lunas's books from the database alone: every
// cached balance equals the sum of its postings, every paid order is
// credited exactly once, every succeeded payment is backed by the
// gateway's own confirmation (or finance's accepted review), every
// posting belongs to something that explains it, and every adjustment
// made by hand has its audit-log row.
//
// `lunas audit` runs it (cmd/lunas); the fault suite runs that command at
// the end of every run; tests call Run directly. It only reads.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/store"
)

// Discrepancy is one thing the books do not bear out.
type Discrepancy struct {
	Check     string `json:"check"`
	AccountID string `json:"account_id,omitempty"`
	OrderID   string `json:"order_id,omitempty"`
	AttemptID string `json:"attempt_id,omitempty"`
	PostingID int64  `json:"posting_id,omitempty"`
	Detail    string `json:"detail"`
}

// Check is one rule and what it covered.
type Check struct {
	Name    string `json:"name"`
	Rule    string `json:"rule"`
	Checked int    `json:"checked"`
	Failed  int    `json:"failed"`
}

// Report is the outcome of an audit.
type Report struct {
	Checks        []Check       `json:"checks"`
	Discrepancies []Discrepancy `json:"discrepancies"`
}

// OK reports whether the books hold.
func (r Report) OK() bool { return len(r.Discrepancies) == 0 }

type rule struct {
	name, text string
	// total counts what the rule covers; bad lists what breaks it, each row
	// (account, order, attempt, posting, detail).
	total, bad string
}

// The rules, as SQL. Zero-amount postings are never written, so a credit
// of 0 on a balance is the absence of its posting. Statuses come in as
// parameters (statuses below), named from the packages that own them.
var rules = []rule{
	{
		name: "balances", text: "each account's cached balances equal the sum of its postings",
		total: `SELECT count(*) FROM accounts`,
		bad: `SELECT a.id, '', '', 0::bigint, format('cached wa_balance %s, muv %s, outstanding %s; postings sum to %s, %s, %s',
				b.wa_balance, b.muv, b.outstanding, coalesce(p.wa, 0), coalesce(p.muv, 0), coalesce(p.outstanding, 0))
			FROM accounts a LEFT JOIN balances b ON b.account_id = a.id LEFT JOIN (
				SELECT account_id,
					sum(amount) FILTER (WHERE balance = 'wa_balance') AS wa,
					sum(amount) FILTER (WHERE balance = 'muv') AS muv,
					sum(amount) FILTER (WHERE balance = 'outstanding') AS outstanding
				FROM ledger_postings GROUP BY account_id) p ON p.account_id = a.id
			WHERE b.account_id IS NULL OR b.wa_balance <> coalesce(p.wa, 0) OR b.muv <> coalesce(p.muv, 0) OR b.outstanding <> coalesce(p.outstanding, 0)
			ORDER BY a.id`,
	},
	{
		name: "credited_once", text: "each paid (or since refunded) order is credited exactly what it bought, once; no other order is credited",
		total: `SELECT count(*) FROM orders o WHERE status = ANY(@paid)
			OR EXISTS (SELECT 1 FROM ledger_postings p WHERE p.order_id = o.id AND p.reversal_id IS NULL)`,
		// An order's credit is every posting it has outside reversals: the
		// WhatsApp top-up is what reached the balance plus what paid off
		// outstanding (a negative outstanding posting).
		bad: `WITH bought AS (
				SELECT o.id, o.account_id, o.status,
					coalesce(sum(i.quantity) FILTER (WHERE i.product = 'wa_balance'), 0) AS wa,
					coalesce(sum(i.quantity) FILTER (WHERE i.product = 'muv'), 0) AS muv
				FROM orders o LEFT JOIN order_items i ON i.order_id = o.id GROUP BY o.id),
			credited AS (
				SELECT order_id,
					coalesce(sum(amount) FILTER (WHERE balance = 'wa_balance'), 0)
					- coalesce(sum(amount) FILTER (WHERE balance = 'outstanding'), 0) AS wa,
					coalesce(sum(amount) FILTER (WHERE balance = 'muv'), 0) AS muv,
					count(*) FILTER (WHERE kind NOT IN ('topup', 'topup_outstanding')) AS odd,
					count(*) AS n
				FROM ledger_postings WHERE order_id IS NOT NULL AND reversal_id IS NULL GROUP BY order_id)
			SELECT b.account_id, b.id, '', 0::bigint, CASE
				WHEN b.status <> ALL(@paid) THEN format('order is %s but was credited', b.status)
				WHEN c.odd > 0 THEN format('%s postings of the order are not top-ups', c.odd)
				ELSE format('bought wa_balance %s, muv %s; credited %s, %s', b.wa, b.muv, coalesce(c.wa, 0), coalesce(c.muv, 0)) END
			FROM bought b LEFT JOIN credited c ON c.order_id = b.id
			WHERE (b.status = ANY(@paid) AND (coalesce(c.wa, 0) <> b.wa OR coalesce(c.muv, 0) <> b.muv OR c.odd > 0))
				OR (b.status <> ALL(@paid) AND c.n IS NOT NULL)
			ORDER BY b.id`,
	},
	{
		name: "paid_by_one_attempt", text: "each paid order names one succeeded attempt of its own that paid its payable (the total less what the buyer withheld: PPh 23 is the buyer's tax payment for the seller, not a loss)",
		total: `SELECT count(*) FROM orders WHERE status = ANY(@paid)`,
		bad: `SELECT o.account_id, o.id, coalesce(o.paid_attempt_id, ''), 0::bigint, CASE
				WHEN a.id IS NULL THEN 'no paying attempt recorded'
				WHEN a.order_id <> o.id THEN 'paying attempt belongs to another order'
				WHEN a.status <> @succeeded THEN format('paying attempt is %s', a.status)
				ELSE format('paying attempt of %s (fee %s) for a payable of %s (total %s)', a.amount, a.fee, o.payable, o.total) END
			FROM orders o LEFT JOIN payment_attempts a ON a.id = o.paid_attempt_id
			WHERE o.status = ANY(@paid)
				AND (a.id IS NULL OR a.order_id <> o.id OR a.status <> @succeeded OR a.amount - a.fee <> o.payable)
			ORDER BY o.id`,
	},
	{
		name: "confirmed_payments", text: "each succeeded attempt is backed by a gateway-confirmed event of its amount, or an accepted review for a manual transfer",
		total: `SELECT count(*) FROM payment_attempts WHERE status = @succeeded`,
		bad: `SELECT o.account_id, a.order_id, a.id, 0::bigint, CASE WHEN a.provider = 'manual'
				THEN 'manual transfer with no accepted review'
				ELSE format('no %s event confirmed by the gateway for %s', a.provider, a.amount) END
			FROM payment_attempts a JOIN orders o ON o.id = a.order_id
			WHERE a.status = @succeeded AND CASE WHEN a.provider = 'manual'
				THEN NOT EXISTS (SELECT 1 FROM reviews r WHERE r.order_id = a.order_id AND r.decision = @accept)
				ELSE NOT EXISTS (SELECT 1 FROM gateway_events e WHERE e.attempt_id = a.id AND e.confirmed_paid AND e.confirmed_amount = a.amount) END
			ORDER BY a.id`,
	},
	{
		name: "reversals", text: "each order's refunded amount is its paying attempt's, and each reversal's postings take back at most what the order credited",
		total: `SELECT count(*) FROM orders WHERE refunded_amount > 0 OR EXISTS (SELECT 1 FROM reversals r WHERE r.order_id = orders.id)`,
		bad: `SELECT o.account_id, o.id, coalesce(o.paid_attempt_id, ''), 0::bigint,
				format('order refunded_amount %s, paying attempt refunded %s, reversals total %s', o.refunded_amount, coalesce(a.refunded_amount, 0), coalesce(r.total, 0))
			FROM orders o LEFT JOIN payment_attempts a ON a.id = o.paid_attempt_id
			LEFT JOIN (SELECT attempt_id, sum(amount) AS total FROM reversals GROUP BY attempt_id) r ON r.attempt_id = o.paid_attempt_id
			WHERE o.refunded_amount <> coalesce(a.refunded_amount, 0) OR (o.refunded_amount > 0 AND o.refunded_amount <> coalesce(r.total, 0))
				OR (o.status = @refunded AND o.refunded_amount < coalesce(a.amount, 0))
			ORDER BY o.id`,
	},
	{
		name: "postings_have_a_source", text: "each posting belongs to an order, an adjustment, a reversal, a usage event or a reconciliation, and that source exists",
		total: `SELECT count(*) FROM ledger_postings`,
		bad: `SELECT p.account_id, coalesce(p.order_id, ''), '', p.id, format('%s posting of %s on %s: %s', p.kind, p.amount, p.balance, CASE
				WHEN p.reversal_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM reversals r WHERE r.id = p.reversal_id AND r.order_id = p.order_id) THEN 'its reversal is missing or of another order'
				WHEN p.adjustment_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM adjustments d WHERE d.id = p.adjustment_id AND d.account_id = p.account_id) THEN 'its adjustment is missing or of another account'
				WHEN p.order_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = p.order_id AND o.account_id = p.account_id) THEN 'its order is of another account'
				WHEN p.usage_event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM usage_events u WHERE u.seq = p.usage_event_id AND u.account_id = p.account_id) THEN 'its usage event is missing or of another account'
				WHEN p.reconciliation_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM reconciliations c WHERE c.id = p.reconciliation_id AND c.account_id = p.account_id) THEN 'its reconciliation is missing or of another account'
				ELSE 'it names no source' END)
			FROM ledger_postings p
			WHERE (p.reversal_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM reversals r WHERE r.id = p.reversal_id AND r.order_id = p.order_id))
				OR (p.adjustment_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM adjustments d WHERE d.id = p.adjustment_id AND d.account_id = p.account_id))
				OR (p.order_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = p.order_id AND o.account_id = p.account_id))
				OR (p.usage_event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM usage_events u WHERE u.seq = p.usage_event_id AND u.account_id = p.account_id))
				OR (p.reconciliation_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM reconciliations c WHERE c.id = p.reconciliation_id AND c.account_id = p.account_id))
				OR (p.order_id IS NULL AND p.adjustment_id IS NULL AND p.reversal_id IS NULL AND p.usage_event_id IS NULL AND p.reconciliation_id IS NULL)
			ORDER BY p.id`,
	},
	{
		// Money moved by hand (issue 26): the audit log says who did it.
		// A reconciliation's adjustment is the reconciliation's own record.
		name: "manual_postings_audited", text: "each adjustment made by hand (not a reconciliation's) has its row in the audit log",
		total: `SELECT count(*) FROM adjustments d WHERE NOT EXISTS (SELECT 1 FROM reconciliations c WHERE c.adjustment_id = d.id)`,
		bad: `SELECT d.account_id, '', '', 0::bigint, format('adjustment %s (%s of %s by %s) has no audit row', d.id, d.kind, d.amount, d.actor)
			FROM adjustments d
			WHERE NOT EXISTS (SELECT 1 FROM reconciliations c WHERE c.adjustment_id = d.id)
				AND NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.object = d.id)
			ORDER BY d.created_at, d.id`,
	},
}

// Run audits the books in one repeatable-read snapshot, so a busy system
// is audited at one instant.
func Run(ctx context.Context, db interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}) (Report, error) {
	var r Report
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return r, store.Unavailable(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	statuses := pgx.NamedArgs{"paid": order.PaidStatuses(), "refunded": order.StatusRefunded,
		"succeeded": order.AttemptSucceeded, "accept": review.Accept}
	for _, ru := range rules {
		c := Check{Name: ru.name, Rule: ru.text}
		if err := tx.QueryRow(ctx, ru.total, statuses).Scan(&c.Checked); err != nil {
			return r, fmt.Errorf("audit: %s: %w", ru.name, err)
		}
		rows, err := tx.Query(ctx, ru.bad, statuses)
		if err != nil {
			return r, fmt.Errorf("audit: %s: %w", ru.name, err)
		}
		found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Discrepancy, error) {
			d := Discrepancy{Check: ru.name}
			return d, row.Scan(&d.AccountID, &d.OrderID, &d.AttemptID, &d.PostingID, &d.Detail)
		})
		if err != nil {
			return r, fmt.Errorf("audit: %s: %w", ru.name, err)
		}
		c.Failed = len(found)
		r.Checks = append(r.Checks, c)
		r.Discrepancies = append(r.Discrepancies, found...)
	}
	if r.Discrepancies == nil {
		r.Discrepancies = []Discrepancy{}
	}
	return r, nil
}

// Print writes the report for a person: what was checked, then every
// discrepancy, then the verdict.
func (r Report) Print(w io.Writer) {
	for _, c := range r.Checks {
		status := "ok"
		if c.Failed > 0 {
			status = fmt.Sprintf("FAILED (%d)", c.Failed)
		}
		fmt.Fprintf(w, "%-24s %6d checked  %-12s %s\n", c.Name, c.Checked, status, c.Rule)
	}
	for _, d := range r.Discrepancies {
		fmt.Fprintf(w, "discrepancy: %s", d.Check)
		for _, kv := range [][2]string{{"account", d.AccountID}, {"order", d.OrderID}, {"attempt", d.AttemptID}} {
			if kv[1] != "" {
				fmt.Fprintf(w, " %s=%s", kv[0], kv[1])
			}
		}
		if d.PostingID != 0 {
			fmt.Fprintf(w, " posting=%d", d.PostingID)
		}
		fmt.Fprintf(w, ": %s\n", d.Detail)
	}
	if r.OK() {
		fmt.Fprintln(w, "audit: the books hold")
	} else {
		fmt.Fprintf(w, "audit: %d discrepancies\n", len(r.Discrepancies))
	}
}

// JSON writes the report as JSON.
func (r Report) JSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(struct {
		OK bool `json:"ok"`
		Report
	}{r.OK(), r})
}
