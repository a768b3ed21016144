package payment

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
	"github.com/lunas-id/lunas/webhook"
)

// Flags finance reviews (GET /v1/gateway-events?flag=…).
const (
	FlagUnmatched      = "unmatched"       // no payment attempt of ours
	FlagAmountMismatch = "amount_mismatch" // paid, but not the attempt's amount
	FlagPaidLate       = "paid_late"       // credited after the order expired or was cancelled
	FlagDoublePayment  = "double_payment"  // a second attempt paid an order already paid
	FlagUnconfirmed    = "unconfirmed"     // the callback's body is contradicted by the gateway
	FlagSuperseded     = "superseded"      // money on an attempt for an older price: nothing credited
	FlagReversed       = "reversed"        // a refund or chargeback took a credit back
)

// Flags lists every flag, for validating a filter.
func Flags() []string {
	return []string{FlagUnmatched, FlagAmountMismatch, FlagPaidLate, FlagUnconfirmed, FlagSuperseded, FlagReversed, FlagDoublePayment}
}

// RecordEvent stores a verified gateway event in the inbox together with
// the outbox row that applies it, in one transaction. It returns the new
// event's id, or 0 when the dedupe key was seen before (a duplicate).
//
// One exception to "a duplicate changes nothing": an event the gateway did
// not bear out (flagged unconfirmed, not resolved by finance) is re-armed
// when it is delivered again, with a new outbox row, because the gateway
// may only have been slow to show the state its callback announced; the
// row is asked about again, and a body it still contradicts is flagged
// again. Its id is returned.
func (s *Service) RecordEvent(ctx context.Context, ev gateway.Event) (int64, error) {
	// Two round trips (store.Pipeline): BEGIN with the insert, then the
	// outbox row with COMMIT. Notification bursts are bound by the
	// database's work per transaction; this halves the round trips of the
	// InTx form and leaves the transaction the same.
	p, err := s.pool.Pipeline(ctx)
	if err != nil {
		return 0, err
	}
	defer p.Close(ctx)
	b := &pgx.Batch{}
	b.Queue(`
		WITH ins AS (
			INSERT INTO gateway_events (provider, dedupe_key, payload, received_at) VALUES ($1, $2, $3, $5)
			ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, 0 AS redeliveries
		), re AS (
			UPDATE gateway_events SET processed_at = NULL, flag = NULL, redeliveries = redeliveries + 1,
				outcome = 'delivered again after it was unconfirmed'
			WHERE dedupe_key = $2 AND NOT EXISTS (SELECT 1 FROM ins)
				AND flag = $4 AND processed_at IS NOT NULL AND resolved_at IS NULL
			RETURNING id, redeliveries
		)
		SELECT id, redeliveries FROM ins UNION ALL SELECT id, redeliveries FROM re`,
		ev.Provider, ev.DedupeKey, ev.Payload, FlagUnconfirmed, s.clock.Now())
	br, err := p.Send(ctx, b)
	if err != nil {
		return 0, err
	}
	var id int64
	var redeliveries int
	err = br.QueryRow().Scan(&id, &redeliveries)
	if errors.Is(err, pgx.ErrNoRows) {
		id, err = 0, nil // a duplicate: nothing to apply
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, store.Unavailable(err)
	}
	b = &pgx.Batch{}
	if id != 0 {
		j := task.Apply(id)
		if redeliveries > 0 {
			j = task.Reapply(id, redeliveries)
		}
		outbox.EnqueueIn(p, b, j)
	}
	if err := p.Commit(ctx, b); err != nil {
		return 0, err
	}
	return id, nil
}

// Event is an inbox row, for finance's review of flagged events.
type Event struct {
	ID              int64           `json:"id"`
	Provider        string          `json:"provider"`
	DedupeKey       string          `json:"dedupe_key"`
	ReceivedAt      time.Time       `json:"received_at"`
	ProcessedAt     *time.Time      `json:"processed_at"`
	Outcome         *string         `json:"outcome"`
	Flag            *string         `json:"flag"`
	OrderID         *string         `json:"order_id"`
	AttemptID       *string         `json:"attempt_id"`
	ConfirmedStatus *string         `json:"confirmed_status"`
	ConfirmedAmount *int64          `json:"confirmed_amount"`
	ResolvedAt      *time.Time      `json:"resolved_at"`
	ResolvedBy      *string         `json:"resolved_by"`
	ResolutionNote  *string         `json:"resolution_note"`
	Payload         json.RawMessage `json:"payload"` // BodyView of the stored body
}

const eventColumns = `id, provider, dedupe_key, received_at, processed_at, outcome, flag, order_id, attempt_id,
	confirmed_status, confirmed_amount, resolved_at, resolved_by, resolution_note, payload`

func scanEvent(r pgx.Row) (Event, error) {
	var e Event
	var payload []byte
	err := r.Scan(&e.ID, &e.Provider, &e.DedupeKey, &e.ReceivedAt, &e.ProcessedAt, &e.Outcome, &e.Flag, &e.OrderID, &e.AttemptID,
		&e.ConfirmedStatus, &e.ConfirmedAmount, &e.ResolvedAt, &e.ResolvedBy, &e.ResolutionNote, &payload)
	e.Payload = BodyView(payload) // the body as signed, shown within bounds (view.go)
	return e, err
}

// EventFilter selects inbox events.
type EventFilter struct {
	Flag     string // one flag; "" for every flagged event
	Resolved *bool  // nil: both; false: only open ones
	OrderID  string // only this order's events (flagged or not) when set
	Before   int64  // cursor: ids below it
	Limit    int
}

// ListEvents lists inbox events, newest first: flagged ones, or every
// event of one order.
func (s *Service) ListEvents(ctx context.Context, f EventFilter) ([]Event, error) {
	if f.Before <= 0 {
		f.Before = 1<<63 - 1
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	// Without an order, only flagged events; with one, all of its events.
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM gateway_events
		WHERE ($5 = '' OR order_id = $5) AND ($5 <> '' OR flag IS NOT NULL) AND ($1 = '' OR flag = $1) AND id < $2 AND ($3::boolean IS NULL OR (resolved_at IS NOT NULL) = $3) ORDER BY id DESC LIMIT $4`,
		f.Flag, f.Before, f.Resolved, f.Limit, f.OrderID)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) { return scanEvent(r) })
	return evs, store.Unavailable(err)
}

// Resolve marks a flagged event resolved by actor with a note. Resolving
// again answers the first resolution unchanged (a retried request).
func (s *Service) Resolve(ctx context.Context, id int64, actor, note string) (Event, error) {
	note = strings.TrimSpace(note)
	if note == "" || len(note) > 2000 {
		return Event{}, &lunas.ValidationError{Fields: []lunas.FieldError{{Field: "note", Message: "is required (at most 2000 characters)"}}}
	}
	now := s.clock.Now()
	tag, err := s.pool.Exec(ctx, `UPDATE gateway_events SET resolved_at = $2, resolved_by = $3, resolution_note = $4
		WHERE id = $1 AND flag IS NOT NULL AND resolved_at IS NULL`, id, now, actor, note)
	if err != nil {
		return Event{}, store.Unavailable(err)
	}
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM gateway_events WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, lunas.E(lunas.KindNotFound, "gateway event %d not found", id)
	}
	if err != nil {
		return e, store.Unavailable(err)
	}
	if tag.RowsAffected() == 0 && e.Flag == nil {
		return e, lunas.E(lunas.KindConflict, "gateway event %d is not flagged: nothing to resolve", id)
	}
	if tag.RowsAffected() > 0 {
		s.log.Info("flagged event resolved", "event_id", id, "flag", deref(e.Flag), "by", actor)
	}
	return e, nil
}

// emitFlagged records gateway_event.flagged for the app, in the
// transaction that flagged event id, with the event as GET
// /v1/gateway-events shows it.
func (s *Service) emitFlagged(ctx context.Context, tx pgx.Tx, id int64, now time.Time) error {
	if ok, err := webhook.Wanted(ctx, tx, webhook.GatewayEventFlagged); err != nil || !ok {
		return err
	}
	e, err := scanEvent(tx.QueryRow(ctx, `SELECT `+eventColumns+` FROM gateway_events WHERE id = $1`, id))
	if err != nil {
		return err
	}
	return webhook.EmitJSON(ctx, tx, webhook.GatewayEventFlagged, strconv.FormatInt(id, 10), e, now)
}
