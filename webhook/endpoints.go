package webhook

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/store"
)

// EndpointStatus is whether an endpoint receives events.
type EndpointStatus string

// Endpoint statuses.
const (
	EndpointEnabled  EndpointStatus = "enabled"
	EndpointDisabled EndpointStatus = "disabled" // it answered 410 Gone
	EndpointDeleted  EndpointStatus = "deleted"  // finance deleted it; kept for its delivery log
)

// EndpointStatuses lists every endpoint status.
func EndpointStatuses() []EndpointStatus {
	return []EndpointStatus{EndpointEnabled, EndpointDisabled, EndpointDeleted}
}

// DeliveryStatus is where one delivery of an event to an endpoint is.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryFailed    DeliveryStatus = "failed"
)

// DeliveryStatuses lists every delivery status.
func DeliveryStatuses() []DeliveryStatus {
	return []DeliveryStatus{DeliveryPending, DeliveryDelivered, DeliveryFailed}
}

// Endpoint is a URL registered by finance to receive events.
type Endpoint struct {
	ID             string
	URL            string
	Events         []string
	Description    string
	Status         EndpointStatus
	DisabledReason *string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// Secret is set only in Create's answer: it is shown once.
	Secret string
}

// EndpointInput is the body of POST /v1/webhook-endpoints.
type EndpointInput struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description *string  `json:"description"`
}

// Delivery is one event to one endpoint, with its last answer.
type Delivery struct {
	ID            int64
	EventID       string
	EventType     string
	EndpointID    string
	Status        DeliveryStatus
	Attempts      int
	NextAttemptAt *time.Time // while pending
	LastAttemptAt *time.Time
	LastStatus    *int
	LastError     *string
	LastResponse  *string
	DeliveredAt   *time.Time
	CreatedAt     time.Time
}

// Service manages endpoints and the delivery log for the API.
type Service struct {
	pool   *store.DB
	clock  clock.Clock
	sealer *Sealer
	policy Policy
	log    *slog.Logger
}

// NewService returns the endpoints service.
func NewService(pool *store.DB, c clock.Clock, sealer *Sealer, policy Policy, log *slog.Logger) *Service {
	return &Service{pool: pool, clock: c, sealer: sealer, policy: policy, log: log}
}

// Create registers an endpoint with a fresh secret, returned once.
func (s *Service) Create(ctx context.Context, in EndpointInput) (Endpoint, error) {
	var ve lunas.ValidationError
	in.URL = strings.TrimSpace(in.URL)
	if in.URL == "" {
		ve.Add("url", "is required")
	} else if err := s.policy.CheckURL(ctx, in.URL); err != nil {
		ve.Add("url", "%s", err.Error())
	}
	events := []string{}
	switch {
	case len(in.Events) == 0:
		ve.Add("events", `is required: event types, or ["*"] for all`)
	case slices.Contains(in.Events, "*"):
		if len(in.Events) > 1 {
			ve.Add("events", `"*" stands alone`)
		}
		events = []string{"*"}
	default:
		for i, t := range in.Events {
			if !slices.Contains(Types(), t) {
				ve.Add("events", "%q (item %d) is not one of %s", t, i, strings.Join(Types(), ", "))
			} else if !slices.Contains(events, t) {
				events = append(events, t)
			}
		}
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
		if len(desc) > 500 {
			ve.Add("description", "must be at most 500 characters")
		}
	}
	if err := ve.Err(); err != nil {
		return Endpoint{}, err
	}
	now := s.clock.Now()
	e := Endpoint{ID: store.NewID("we"), URL: in.URL, Events: events, Description: desc, Status: EndpointEnabled,
		CreatedAt: now, UpdatedAt: now, Secret: NewSecret()}
	_, err := s.pool.Exec(ctx, `INSERT INTO webhook_endpoints (id, url, events, description, secret_sealed, created_at, updated_at)
		VALUES ($1,$2,$3,$4,$5,$6,$6)`, e.ID, e.URL, e.Events, e.Description, s.sealer.Seal(e.ID, e.Secret), now)
	if err != nil {
		return Endpoint{}, store.Unavailable(err)
	}
	s.log.Info("webhook endpoint registered", "endpoint_id", e.ID, "url", e.URL, "events", strings.Join(events, ","))
	return e, nil
}

const endpointColumns = `id, url, events, description, status, disabled_reason, created_at, updated_at`

func scanEndpoint(r pgx.Row) (Endpoint, error) {
	var e Endpoint
	err := r.Scan(&e.ID, &e.URL, &e.Events, &e.Description, &e.Status, &e.DisabledReason, &e.CreatedAt, &e.UpdatedAt)
	return e, err
}

// List returns the endpoints not deleted, newest first.
func (s *Service) List(ctx context.Context) ([]Endpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE status <> $1
		ORDER BY created_at DESC, id DESC LIMIT 500`, EndpointDeleted)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	eps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Endpoint, error) { return scanEndpoint(r) })
	return eps, store.Unavailable(err)
}

// Get returns one endpoint (deleted ones too: their delivery log stays).
func (s *Service) Get(ctx context.Context, id string) (Endpoint, error) {
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, lunas.E(lunas.KindNotFound, "webhook endpoint %q not found", id)
	}
	return e, store.Unavailable(err)
}

// Delete stops an endpoint: no new deliveries, and its pending ones end
// failed. The row stays for the delivery log.
func (s *Service) Delete(ctx context.Context, id string) error {
	now := s.clock.Now()
	return store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET status = $3, updated_at = $2 WHERE id = $1 AND status <> $3`, id, now, EndpointDeleted)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return lunas.E(lunas.KindNotFound, "webhook endpoint %q not found", id)
		}
		s.log.Info("webhook endpoint deleted", "endpoint_id", id)
		return failPending(ctx, tx, id, "endpoint deleted")
	})
}

// failPending ends an endpoint's pending deliveries.
func failPending(ctx context.Context, q store.Querier, endpointID, reason string) error {
	_, err := q.Exec(ctx, `UPDATE webhook_deliveries SET status = $3, last_error = coalesce(last_error || '; ', '') || $2, lease_until = NULL
		WHERE endpoint_id = $1 AND status = $4`, endpointID, reason, DeliveryFailed, DeliveryPending)
	return err
}

const deliveryColumns = `d.id, d.event_id, ev.type, d.endpoint_id, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at,
	d.last_status, d.last_error, d.last_response, d.delivered_at, d.created_at`

func scanDelivery(r pgx.Row) (Delivery, error) {
	var d Delivery
	var next time.Time
	err := r.Scan(&d.ID, &d.EventID, &d.EventType, &d.EndpointID, &d.Status, &d.Attempts, &next, &d.LastAttemptAt,
		&d.LastStatus, &d.LastError, &d.LastResponse, &d.DeliveredAt, &d.CreatedAt)
	if d.Status == DeliveryPending {
		d.NextAttemptAt = &next
	}
	return d, err
}

// Deliveries lists an endpoint's deliveries, newest first; before is the
// last id of the previous page (0: from the newest).
func (s *Service) Deliveries(ctx context.Context, endpointID string, before int64, limit int) ([]Delivery, error) {
	if _, err := s.Get(ctx, endpointID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
		WHERE d.endpoint_id = $1 AND ($2 = 0 OR d.id < $2) ORDER BY d.id DESC LIMIT $3`, endpointID, before, limit)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) { return scanDelivery(r) })
	return ds, store.Unavailable(err)
}

// GetDelivery returns one delivery.
func (s *Service) GetDelivery(ctx context.Context, id int64) (Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d
		JOIN webhook_events ev ON ev.id = d.event_id WHERE d.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, lunas.E(lunas.KindNotFound, "webhook delivery %d not found", id)
	}
	return d, store.Unavailable(err)
}

// Retry sends a delivery again now, whatever its status (a delivered one
// goes again too: the app asked for it), with the same webhook-id and body.
// Its endpoint must still be enabled.
func (s *Service) Retry(ctx context.Context, id int64) (Delivery, error) {
	now := s.clock.Now()
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var status EndpointStatus
		err := tx.QueryRow(ctx, `SELECT e.status FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
			WHERE d.id = $1 FOR UPDATE OF d`, id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return lunas.E(lunas.KindNotFound, "webhook delivery %d not found", id)
		}
		if err != nil {
			return err
		}
		if status != EndpointEnabled {
			return lunas.E(lunas.KindConflict, "cannot retry: the endpoint of delivery %d is %s", id, status)
		}
		// A manual retry of an ended delivery gets the whole schedule again
		// when it fails (attempts stays the count of every try).
		_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $2,
			schedule_base = CASE WHEN status = $3 THEN schedule_base ELSE attempts END, status = $3 WHERE id = $1`, id, now, DeliveryPending)
		return err
	})
	if err != nil {
		return Delivery{}, err
	}
	s.log.Info("webhook delivery retried by hand", "delivery_id", id)
	return s.GetDelivery(ctx, id)
}
