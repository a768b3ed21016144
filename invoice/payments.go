package invoice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/store"
)

// Attempt statuses.
const (
	AttemptPending   = "pending"
	AttemptSucceeded = "succeeded"
	AttemptFailed    = "failed"
	AttemptCancelled = "cancelled"
	AttemptExpired   = "expired"
)

// Attempt is one try at paying an order with one method.
type Attempt struct {
	ID          string
	OrderID     string
	Method      string
	Provider    string
	Status      string
	Amount      int64
	Fee         int64
	GatewayRef  *string
	Details     map[string]any
	FailureCode *string
	ExpiresAt   *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const attemptColumns = `id, order_id, method, provider, status, amount, fee, gateway_ref, details, failure_code, expires_at, created_at, updated_at`

func scanAttempt(r pgx.Row) (Attempt, error) {
	var a Attempt
	err := r.Scan(&a.ID, &a.OrderID, &a.Method, &a.Provider, &a.Status, &a.Amount, &a.Fee, &a.GatewayRef, &a.Details,
		&a.FailureCode, &a.ExpiresAt, &a.CreatedAt, &a.UpdatedAt)
	return a, err
}

func loadAttempts(ctx context.Context, q store.Querier, orderID string) ([]Attempt, error) {
	rows, err := q.Query(ctx, `SELECT `+attemptColumns+` FROM payment_attempts WHERE order_id = $1 ORDER BY created_at, id`, orderID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Attempt, error) { return scanAttempt(r) })
}

// PaymentInput is the body of POST /v1/orders/{id}/payments.
type PaymentInput struct {
	Method    string `json:"method"`
	CardToken string `json:"card_token"`
	Phone     string `json:"phone"`
}

var phoneRe = regexp.MustCompile(`^\+628[0-9]{7,12}$`)

// NormalizePhone turns an Indonesian mobile number written 08… or +628…
// (spaces and dashes allowed) into +628…; ok is false when it is not one.
func NormalizePhone(p string) (string, bool) {
	p = strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(p))
	switch {
	case strings.HasPrefix(p, "08"):
		p = "+62" + p[1:]
	case strings.HasPrefix(p, "628"):
		p = "+" + p
	}
	return p, phoneRe.MatchString(p)
}

// OVO limits on the Xendit e-wallet API, whole rupiah.
const (
	ovoMinAmount = 100
	ovoMaxAmount = 20_000_000
)

// CreatePayment opens a payment attempt. The attempt is committed before the
// gateway is called, so a callback can never arrive for an attempt lunas does
// not know; a refusal marks it failed and surfaces as a 502.
func (s *Service) CreatePayment(ctx context.Context, orderID string, in PaymentInput) (*Attempt, error) {
	var ve lunas.ValidationError
	provider := gateway.ProviderFor(in.Method)
	phone := ""
	switch {
	case in.Method == "":
		ve.Add("method", "is required")
	case provider == "":
		ve.Add("method", "unknown method %q (bca_va, bni_va, bri_va, cimb_va, permata_va, mandiri_bill, credit_card, ovo, manual_transfer)", in.Method)
	case in.Method == gateway.MethodCreditCard && strings.TrimSpace(in.CardToken) == "":
		ve.Add("card_token", "is required for credit_card")
	case in.Method == gateway.MethodOVO:
		var ok bool
		if phone, ok = NormalizePhone(in.Phone); !ok {
			ve.Add("phone", "must be an Indonesian mobile number, +628… or 08…")
		}
	}
	if in.Method != gateway.MethodCreditCard && in.CardToken != "" {
		ve.Add("card_token", "only for credit_card")
	}
	if in.Method != gateway.MethodOVO && in.Phone != "" {
		ve.Add("phone", "only for ovo")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	gw := s.gateways[provider]
	if provider != gateway.ProviderManual && gw == nil {
		return nil, lunas.E(lunas.KindUnavailable, "payment method %s is not configured on this server", in.Method)
	}

	var a Attempt
	var o *Order
	err := s.inOrderTx(ctx, orderID, func(tx pgx.Tx, ord *Order, now time.Time) error {
		o = ord
		if o.Status != StatusAwaitingPayment {
			return conflict("start a payment", o)
		}
		if !now.Before(*o.ExpiresAt) {
			return lunas.E(lunas.KindConflict, "cannot start a payment: invoice %s expired at %s", *o.InvoiceNumber, o.ExpiresAt.In(s.loc).Format(time.RFC3339))
		}
		a = Attempt{ID: store.NewID("pay"), OrderID: o.ID, Method: in.Method, Provider: provider, Status: AttemptPending,
			Amount: o.Total, ExpiresAt: o.ExpiresAt, CreatedAt: now, UpdatedAt: now, Details: map[string]any{}}
		if in.Method == gateway.MethodCreditCard {
			a.Fee = s.catalog.CardFee(o.Total)
			a.Amount = o.Total + a.Fee
		}
		if in.Method == gateway.MethodOVO && (a.Amount < ovoMinAmount || a.Amount > ovoMaxAmount) {
			return &lunas.ValidationError{Fields: []lunas.FieldError{{Field: "method", Message: fmt.Sprintf("OVO takes %d to %d rupiah; this invoice is %d", ovoMinAmount, ovoMaxAmount, a.Amount)}}}
		}
		if in.Method == gateway.MethodManualTransfer {
			a.Details = map[string]any{"bank_account": s.bank, "reference": *o.InvoiceNumber}
		}
		if in.Method == gateway.MethodOVO {
			a.Details["phone"] = phone
		}
		_, err := tx.Exec(ctx, `INSERT INTO payment_attempts (id, order_id, method, provider, status, amount, fee, details, expires_at, created_at, updated_at)
			VALUES ($1,$2,$3,$4,'pending',$5,$6,$7,$8,$9,$9)`, a.ID, a.OrderID, a.Method, a.Provider, a.Amount, a.Fee, a.Details, a.ExpiresAt, now)
		return err
	})
	if err != nil || provider == gateway.ProviderManual {
		return &a, err
	}

	res, cerr := gw.Charge(ctx, gateway.ChargeRequest{
		AttemptID: a.ID, InvoiceNumber: *o.InvoiceNumber, Method: a.Method, Amount: a.Amount, ExpiresAt: *o.ExpiresAt,
		CardToken: in.CardToken, Phone: phone, CustomerName: o.Requester.Name, CustomerEmail: o.Requester.Email,
	})
	// The result is recorded even when the client has gone away.
	wctx := context.WithoutCancel(ctx)
	if cerr != nil {
		var ref *gateway.RefusedError
		msg, code := cerr.Error(), "gateway_error"
		if errors.As(cerr, &ref) {
			msg, code = ref.Message, ref.Code
			if code == "" {
				code = "refused"
			}
		}
		now := s.clock.Now()
		// Only a still-pending attempt fails: a callback may already have settled it.
		if _, err := s.pool.Exec(wctx, `UPDATE payment_attempts SET status = 'failed', failure_code = $2, details = details || $3, updated_at = $4
			WHERE id = $1 AND status = 'pending'`, a.ID, code, map[string]any{"gateway_message": msg}, now); err != nil {
			return nil, store.Unavailable(err)
		}
		return nil, lunas.Wrap(lunas.KindGateway, cerr, "%s", msg)
	}
	for k, v := range res.Details {
		a.Details[k] = v
	}
	if _, err := s.pool.Exec(wctx, `UPDATE payment_attempts SET gateway_ref = $2, details = details || $3 WHERE id = $1`,
		a.ID, res.Ref, res.Details); err != nil {
		return nil, store.Unavailable(err)
	}
	if res.Event != nil {
		// A card captured at once: settle through the inbox like any callback.
		id, err := s.RecordEvent(wctx, *res.Event)
		if err != nil {
			return nil, err
		}
		if id > 0 {
			if err := s.ApplyEvent(wctx, id, "apply:"+fmt.Sprint(id)); err != nil {
				return nil, err
			}
		}
	}
	got, err := getAttempt(wctx, s.pool, a.ID)
	return &got, err
}

func getAttempt(ctx context.Context, q store.Querier, id string) (Attempt, error) {
	a, err := scanAttempt(q.QueryRow(ctx, `SELECT `+attemptColumns+` FROM payment_attempts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, lunas.E(lunas.KindNotFound, "payment attempt %q not found", id)
	}
	return a, store.Unavailable(err)
}

// CancelAtGateway asks the gateway to void an attempt that lunas closed
// (another attempt paid the order). Called by the worker; a gateway that
// says the transaction cannot be cancelled any more is not an error.
func (s *Service) CancelAtGateway(ctx context.Context, attemptID string) error {
	a, err := getAttempt(ctx, s.pool, attemptID)
	if err != nil {
		return err
	}
	gw := s.gateways[a.Provider]
	if gw == nil || a.GatewayRef == nil {
		return nil
	}
	return gw.Cancel(ctx, a.ID)
}

// RecordEvent stores a verified gateway event in the inbox together with
// the outbox row that applies it, in one statement. It returns the new
// event's id, or 0 when the dedupe key was seen before (a duplicate).
func (s *Service) RecordEvent(ctx context.Context, ev gateway.Event) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `
		WITH ev AS (
			INSERT INTO gateway_events (provider, dedupe_key, payload) VALUES ($1, $2, $3)
			ON CONFLICT (dedupe_key) DO NOTHING RETURNING id
		), ob AS (
			INSERT INTO outbox (id, task_type, payload)
			SELECT 'apply:' || id, $4, convert_to(json_build_object('event_id', id)::text, 'UTF8') FROM ev
			RETURNING id
		)
		SELECT coalesce((SELECT id FROM ev), 0), (SELECT count(*) FROM ob)`,
		ev.Provider, ev.DedupeKey, ev.Payload, TaskPaymentApply).Scan(&id, new(int64))
	if err != nil {
		return 0, store.Unavailable(err)
	}
	if id > 0 {
		s.Kick()
	}
	return id, nil
}

// Event is an inbox row, for finance's review of flagged events.
type Event struct {
	ID          int64           `json:"id"`
	Provider    string          `json:"provider"`
	DedupeKey   string          `json:"dedupe_key"`
	ReceivedAt  time.Time       `json:"received_at"`
	ProcessedAt *time.Time      `json:"processed_at"`
	Outcome     *string         `json:"outcome"`
	Flag        *string         `json:"flag"`
	OrderID     *string         `json:"order_id"`
	AttemptID   *string         `json:"attempt_id"`
	Payload     json.RawMessage `json:"payload"`
}

// Flags finance reviews.
const (
	FlagUnmatched      = "unmatched"
	FlagAmountMismatch = "amount_mismatch"
	FlagPaidLate       = "paid_late"
	FlagDoublePayment  = "double_payment"
)

// ListEvents lists inbox events with flag (all flagged ones when empty),
// newest first, before the cursor id.
func (s *Service) ListEvents(ctx context.Context, flag string, before int64, limit int) ([]Event, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, provider, dedupe_key, received_at, processed_at, outcome, flag, order_id, attempt_id, payload
		FROM gateway_events WHERE flag IS NOT NULL AND ($1 = '' OR flag = $1) AND id < $2 ORDER BY id DESC LIMIT $3`,
		flag, before, limit)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var payload []byte
		err := r.Scan(&e.ID, &e.Provider, &e.DedupeKey, &e.ReceivedAt, &e.ProcessedAt, &e.Outcome, &e.Flag, &e.OrderID, &e.AttemptID, &payload)
		if json.Valid(payload) {
			e.Payload = payload
		} else {
			e.Payload, _ = json.Marshal(string(payload))
		}
		return e, err
	})
}
