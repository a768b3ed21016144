// Package usage is the spending side of the prepaid balances: the app
// reports WhatsApp messaging events and website visitors, and usage charges
// the WhatsApp balance by the rate card in force at each event — once per
// recipient and category per 24 h window under a conversation card
// (LUNAS_WA_PRICES, or a list's conversation card), per message with free
// windows and monthly volume tiers under a message card (message.go) —
// refunds failed sends, charges unique visitors once per calendar month,
// alerts on a low balance and reconciles each month against the provider's
// bill (API.md "Usage billing", "Billing by message", "Low-balance alerts").
// It owns the rate cards (cards.go) and rates Meta's status webhooks from
// their inbox (status.go): Meta's pricing of each message is the final word.
//
// api calls Record, Summary, Reconcile, Alerts, PutCard, Cards and
// RecordStatuses; the worker calls RateInbox. Every debit and refund is a
// ledger posting tied to its usage event (ledger.PostUsage). A batch
// holds the account's row lock from its first read to its commit, so the
// decisions of a batch (is a window open, does the balance cover it, which
// tier) see every earlier batch of the account and no later one, with any
// number of serve and work processes: no usage the app reports ever takes
// a balance below zero; only a message Meta reports delivered may be owed
// beyond it (outstanding).
package usage

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/tariff"
)

// Event kinds.
const (
	KindSend    = "send"
	KindInbound = "inbound"
	KindReply   = "reply"
	KindFailed  = "failed"
	KindVisitor = "visitor"
)

// Outcomes of an event.
const (
	Charged  = "charged"
	Free     = "free"
	Refunded = "refunded"
	Blocked  = "blocked"
	Rejected = "rejected"
)

// Window is the life of a conversation window and of the customer-service
// window an inbound message opens.
const Window = 24 * time.Hour

// MaxEvents is the most events one request may report.
const MaxEvents = 1000

// Service records usage.
type Service struct {
	pool   *store.DB
	clock  clock.Clock
	prices tariff.Table
	loc    *time.Location
	ratio  decimal.Decimal
	log    *slog.Logger
	// Alerted is called once per low-balance alert mail committed, with
	// the balance (metrics).
	Alerted func(balance string)
}

// Options configures a Service.
type Options struct {
	Pool     *store.DB
	Clock    clock.Clock
	Prices   tariff.Table
	Location *time.Location
	// LowBalanceRatio is LUNAS_LOW_BALANCE_RATIO: the alert goes out when a
	// debit takes a balance below this share of its reference.
	LowBalanceRatio decimal.Decimal
	Logger          *slog.Logger
}

// New returns a Service.
func New(o Options) *Service {
	return &Service{pool: o.Pool, clock: o.Clock, prices: o.Prices, loc: o.Location, ratio: o.LowBalanceRatio, log: o.Logger,
		Alerted: func(string) {}}
}

// EventInput is one reported event as the app sends it.
type EventInput struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Recipient string `json:"recipient,omitempty"`
	Category  string `json:"category,omitempty"`
	Visitor   string `json:"visitor,omitempty"`
	At        string `json:"at"`
	// EntryPoint marks an inbound that came from a click-to-WhatsApp ad or
	// a Page button: under a message card it opens a free entry-point window.
	EntryPoint bool `json:"entry_point,omitempty"`
}

// Input is the body of POST /v1/accounts/{id}/usage.
type Input struct {
	Events       []EventInput `json:"events"`
	AllOrNothing bool         `json:"all_or_nothing"`
}

// Result is what became of one event.
type Result struct {
	ID           string
	Kind         string
	Outcome      string
	Amount       int64 // IDR (visitors: 1 visitor)
	WindowEndsAt *time.Time
	Reason       string
	Replayed     bool
	// Under a message card: why a message was free (or "regular"), and
	// the end of the entry-point window an inbound opened.
	PricingType      string
	EntryPointEndsAt *time.Time
}

// Batch is the answer to a usage report: the results in the order of the
// request and the balances after it.
type Batch struct {
	Results  []Result
	Balances ledger.Balances
}

// InsufficientError answers an all_or_nothing broadcast that the balance
// does not cover (402): nothing was debited.
type InsufficientError struct {
	Balance   string
	Required  int64
	Available int64
}

func (e *InsufficientError) Error() string {
	return fmt.Sprintf("the %s balance does not cover the broadcast: %d required, %d available", e.Balance, e.Required, e.Available)
}

// Record applies a batch of usage events to an account, in one transaction
// that holds the account's row lock. A malformed event fails the whole
// request (400) before anything is read.
func (s *Service) Record(ctx context.Context, accountID string, in Input) (Batch, error) {
	evs, err := parse(in)
	if err != nil {
		return Batch{}, err
	}
	var out Batch
	var alerts []string
	err = store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		alerts = alerts[:0]
		now := s.clock.Now()
		before, st, err := ledger.Lock(ctx, tx, accountID)
		if err != nil {
			return unavailable(err)
		}
		e, err := s.load(ctx, tx, accountID, evs)
		if err != nil {
			return store.Unavailable(err)
		}
		e.wa, e.muv, e.out = before.WABalance, before.MUV, before.Outstanding
		results := e.run(evs)
		if in.AllOrNothing && e.blocked > 0 {
			// Run again with unlimited funds to learn what the whole
			// broadcast needs; nothing of either run is written.
			sim, err := s.load(ctx, tx, accountID, evs)
			if err != nil {
				return store.Unavailable(err)
			}
			sim.unlimited = true
			sim.run(evs)
			ie := &InsufficientError{Balance: ledger.BalanceWA, Required: sim.needWA, Available: before.WABalance}
			if sim.needWA <= before.WABalance {
				ie = &InsufficientError{Balance: ledger.BalanceMUV, Required: sim.needMUV, Available: before.MUV}
			}
			return ie
		}
		after, err := s.write(ctx, tx, accountID, now, e)
		if err != nil {
			return err
		}
		alerts, err = s.checkAlerts(ctx, tx, accountID, now, before, after, st)
		if err != nil {
			return err
		}
		out = Batch{Results: results, Balances: after}
		return nil
	})
	if err != nil {
		return Batch{}, err
	}
	for _, b := range alerts {
		s.Alerted(b)
	}
	return out, nil
}

// write stores the batch's new events (COPY), marks the sends it refunded,
// and posts its debits and refunds through the ledger.
func (s *Service) write(ctx context.Context, tx pgx.Tx, accountID string, now time.Time, e *engine) (ledger.Balances, error) {
	if len(e.fresh) > 0 {
		rows, err := tx.Query(ctx, `SELECT nextval('usage_events_seq_seq') FROM generate_series(1, $1)`, len(e.fresh))
		if err != nil {
			return ledger.Balances{}, err
		}
		seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return ledger.Balances{}, err
		}
		copyRows := make([][]any, len(e.fresh))
		for i, m := range e.fresh {
			m.seq = seqs[i]
			copyRows[i] = []any{m.seq, accountID, m.eventID, m.kind, null(m.recipient), null(m.category), null(m.visitor),
				m.at, m.outcome, m.amount, m.windowEnd, m.refunded, null(m.reason), now,
				null(m.market), null(m.cardID), null(m.pricingType), m.owed, m.entryEnd}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"usage_events"},
			[]string{"seq", "account_id", "event_id", "kind", "recipient", "category", "visitor", "at", "outcome", "amount",
				"window_ends_at", "refunded", "reason", "created_at",
				"market", "card_id", "pricing_type", "owed", "entry_ends_at"}, pgx.CopyFromRows(copyRows)); err != nil {
			return ledger.Balances{}, fmt.Errorf("usage: store events: %w", err)
		}
	}
	if len(e.refundedOld) > 0 {
		seqs := make([]int64, len(e.refundedOld))
		for i, m := range e.refundedOld {
			seqs[i] = m.seq
		}
		if _, err := tx.Exec(ctx, `UPDATE usage_events SET refunded = amount WHERE seq = ANY($1)`, seqs); err != nil {
			return ledger.Balances{}, fmt.Errorf("usage: mark refunded: %w", err)
		}
	}
	if err := e.writeTiers(ctx, tx, accountID); err != nil {
		return ledger.Balances{}, fmt.Errorf("usage: tier counts: %w", err)
	}
	if err := e.cards.markPriced(ctx, tx); err != nil {
		return ledger.Balances{}, err
	}
	ps := make([]ledger.UsagePosting, len(e.postings))
	for i, p := range e.postings {
		ps[i] = ledger.UsagePosting{Balance: p.balance, Amount: p.amount, Kind: p.kind, UsageEventID: p.event.seq, Memo: p.memo}
	}
	return ledger.PostUsage(ctx, tx, now, accountID, ps)
}

func null(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
