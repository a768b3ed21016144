// Package sending sends unpaid subscription invoices and reminders in bulk,
// by mail and WhatsApp (API.md "Bulk sending"). A sending is a job with
// progress: Submit records it with one item per (invoice, channel) matched
// by its filter and queues the task sending:run; the worker calls Run,
// which works through the items; GET /v1/sendings/{id} reads Progress.
//
// Each (invoice, channel, message) goes out at most once per business day,
// whichever sending asks: a row in deliveries, unique on that key, is
// claimed before the gateway is called and its outcome recorded after the
// answer. A second submission finds the rows and skips; a run that dies
// leaves its items leased, and whoever takes them over after the lease
// sends again only what was claimed and never recorded — the one case
// where a message can go out twice (the kill landed between the gateway's
// acceptance and the record). Mail rides the mail service (its own
// exactly-once machinery); WhatsApp goes through a Fonnte-compatible
// gateway at LUNAS_WHATSAPP_RATE messages per second across every work
// process (a shared slot row in PostgreSQL), each error recorded on its
// message and retried when transient.
//
// The worker's sweeper calls Sweep, which revives a sending whose runs all
// died (its heartbeat stopped).
package sending

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/paylink"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
)

// Channels and messages.
const (
	ChannelEmail    = "email"
	ChannelWhatsApp = "whatsapp"
	MessageInvoice  = "invoice"
	MessageReminder = "reminder"
)

// ItemStatus is where one (invoice, channel) of a sending is: pending
// until it is final (sent, failed, skipped).
type ItemStatus string

// Item statuses.
const (
	ItemPending ItemStatus = "pending"
	ItemSent    ItemStatus = "sent"
	ItemFailed  ItemStatus = "failed"
	ItemSkipped ItemStatus = "skipped"
)

// ItemStatuses lists every item status.
func ItemStatuses() []ItemStatus { return []ItemStatus{ItemPending, ItemSent, ItemFailed, ItemSkipped} }

// DeliveryStatus is where the once-per-day delivery of one message is:
// claimed before the gateway is called, then sent or failed.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryClaimed DeliveryStatus = "claimed"
	DeliverySent    DeliveryStatus = "sent"
	DeliveryFailed  DeliveryStatus = "failed"
)

// DeliveryStatuses lists every delivery status.
func DeliveryStatuses() []DeliveryStatus {
	return []DeliveryStatus{DeliveryClaimed, DeliverySent, DeliveryFailed}
}

// The leases, heartbeats, retry backoffs and the WhatsApp rate slots run on
// the database's clock (clock_timestamp()): they are about real time
// passing (a dead worker, a gateway's per-second limit), which a test
// clock moved by days must not fake. What a sending records as business
// facts (created, claimed, sent, finished, updated) is the service clock's.

// Sender sends one WhatsApp message; *WhatsApp is the real one.
type Sender interface {
	Send(ctx context.Context, target, message string) error
}

// Service runs bulk sendings.
type Service struct {
	pool      *store.DB
	clock     clock.Clock
	loc       *time.Location
	log       *slog.Logger
	wa        Sender
	interval  time.Duration // between two WhatsApp messages, every process together
	signer    proforma.Signer
	publicURL string
	links     paylink.Links // the pay page each message links to
	lease     time.Duration
}

// Options configures a Service.
type Options struct {
	Pool      *store.DB
	Orders    *order.Service // for the service clock and the business zone
	Logger    *slog.Logger
	WhatsApp  Sender        // nil: the whatsapp channel is refused
	Interval  time.Duration // 1 s / LUNAS_WHATSAPP_RATE
	Signer    proforma.Signer
	PublicURL string
	Links     paylink.Links // the pay page beside the PDF link; unset: the PDF link alone
	// Lease is how long a run holds an item without renewing it, and how
	// long a sending's heartbeat may stop before the sweeper revives it
	// (default 20 s; longer than one gateway call's timeout).
	Lease time.Duration
}

// New returns a Service.
func New(o Options) *Service {
	if o.Lease <= 0 {
		o.Lease = 20 * time.Second
	}
	return &Service{pool: o.Pool, clock: o.Orders.Clock(), loc: o.Orders.Location(), log: o.Logger, wa: o.WhatsApp,
		interval: o.Interval, signer: o.Signer, publicURL: o.PublicURL, links: o.Links, lease: o.Lease}
}

// Filter selects the unpaid subscription invoices a sending covers.
type Filter struct {
	Overdue   *bool   `json:"overdue,omitempty"`
	PlanID    *string `json:"plan_id,omitempty"`
	AccountID *string `json:"account_id,omitempty"`
	MinDays   *int    `json:"min_days,omitempty"`
}

// Input is the body of POST /v1/sendings.
type Input struct {
	Filter   Filter   `json:"filter"`
	Channels []string `json:"channels"`
	Message  string   `json:"message"`
}

// Counts are a channel's progress.
type Counts struct {
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

// Progress is a sending as GET /v1/sendings/{id} shows it.
type Progress struct {
	ID       string            `json:"id"`
	Status   string            `json:"status"` // running, done
	Message  string            `json:"message"`
	Total    int               `json:"total"`
	Sent     int               `json:"sent"`
	Failed   int               `json:"failed"`
	Skipped  int               `json:"skipped"`
	Channels map[string]Counts `json:"channels"`
	Day      string            `json:"business_day"`
	Created  time.Time         `json:"-"`
}

// Submit records a sending over the unpaid subscription invoices its
// filter matches now, one item per invoice and channel (a customer without
// a phone is skipped for WhatsApp at once), and queues its run.
func (s *Service) Submit(ctx context.Context, actor string, in Input) (*Progress, error) {
	var ve lunas.ValidationError
	if len(in.Channels) == 0 {
		ve.Add("channels", "at least one of email, whatsapp")
	}
	for i, c := range in.Channels {
		switch {
		case c != ChannelEmail && c != ChannelWhatsApp:
			ve.Add(fmt.Sprintf("channels[%d]", i), "must be email or whatsapp")
		case slices.Index(in.Channels, c) != i:
			ve.Add(fmt.Sprintf("channels[%d]", i), "is named twice")
		case c == ChannelWhatsApp && s.wa == nil:
			ve.Add(fmt.Sprintf("channels[%d]", i), "whatsapp is not configured on this server (LUNAS_WHATSAPP_URL)")
		}
	}
	if in.Message != MessageInvoice && in.Message != MessageReminder {
		ve.Add("message", "must be invoice or reminder")
	}
	if in.Filter.MinDays != nil && (*in.Filter.MinDays < 0 || *in.Filter.MinDays > 3660) {
		ve.Add("filter.min_days", "must be from 0 to 3660")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	y, m, d := now.In(s.loc).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	overdue := in.Filter.Overdue != nil && *in.Filter.Overdue
	minDays := 0
	if in.Filter.MinDays != nil {
		minDays = *in.Filter.MinDays
	}
	filter, _ := json.Marshal(in.Filter)
	id := store.NewID("snd")
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO sendings (id, filter, channels, message, business_day, total, actor, heartbeat_at, created_at)
			VALUES ($1,$2,$3,$4,$5,0,$6,clock_timestamp(),$7)`, id, filter, in.Channels, in.Message, day, actor, now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO sending_items (sending_id, order_id, channel, status, reason, updated_at)
			SELECT $1, o.id, ch, CASE WHEN ch = 'whatsapp' AND sub.customer_phone IS NULL THEN $10 ELSE $11 END,
				CASE WHEN ch = 'whatsapp' AND sub.customer_phone IS NULL THEN 'the customer has no phone' END, $2
			FROM orders o
			JOIN subscriptions sub ON sub.id = o.subscription_id
			JOIN order_items it ON it.order_id = o.id AND it.line = 0
			CROSS JOIN unnest($3::text[]) AS ch
			WHERE o.subscription_id IS NOT NULL AND o.status = ANY($9)
				AND (NOT $4 OR o.due_date < $5::date)
				AND ($5::date - o.due_date) >= $6
				AND ($7::text IS NULL OR it.plan_id = $7) AND ($8::text IS NULL OR o.account_id = $8)`,
			id, now, in.Channels, overdue, day, minDays, in.Filter.PlanID, in.Filter.AccountID,
			[]order.Status{order.StatusAwaitingPayment, order.StatusRejected}, ItemSkipped, ItemPending)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE sendings SET total = $2 WHERE id = $1`, id, tag.RowsAffected()); err != nil {
			return err
		}
		return outbox.Enqueue(ctx, tx, task.Sending(id, 0))
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// Get reads a sending's progress. An email counts as sent once the mail
// service has sent it; a sending is done when every item is.
func (s *Service) Get(ctx context.Context, id string) (*Progress, error) {
	ps, err := s.progress(ctx, id, 1)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, lunas.E(lunas.KindNotFound, "sending %q not found", id)
	}
	return ps[0], nil
}

// Recent lists the newest sendings with their progress, newest first; the
// finance console shows them. Two queries whatever the limit.
func (s *Service) Recent(ctx context.Context, limit int) ([]*Progress, error) {
	return s.progress(ctx, "", limit)
}

// progress reads sending id (or, with "", the newest limit sendings,
// newest first) and counts their items in one grouped query.
func (s *Service) progress(ctx context.Context, id string, limit int) ([]*Progress, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, message, total, channels, business_day, created_at FROM sendings
		WHERE ($1 = '' OR id = $1) ORDER BY created_at DESC, id DESC LIMIT $2`, id, limit)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	var out []*Progress
	byID := map[string]*Progress{}
	var ids []string
	var channels []string
	var day time.Time
	p := &Progress{}
	_, err = pgx.ForEachRow(rows, []any{&p.ID, &p.Message, &p.Total, &channels, &day, &p.Created}, func() error {
		q := &Progress{ID: p.ID, Message: p.Message, Total: p.Total, Created: p.Created, Day: day.Format(time.DateOnly), Channels: map[string]Counts{}}
		for _, c := range channels {
			q.Channels[c] = Counts{}
		}
		out, byID[q.ID], ids = append(out, q), q, append(ids, q.ID)
		return nil
	})
	if err != nil {
		return nil, store.Unavailable(err)
	}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err = s.pool.Query(ctx, `
		SELECT si.sending_id, si.channel,
			count(*) FILTER (WHERE si.status = $2 AND (si.channel <> 'email' OR m.status = $5)),
			count(*) FILTER (WHERE si.status = $3 OR (si.channel = 'email' AND si.status = $2 AND m.status = $6)),
			count(*) FILTER (WHERE si.status = $4)
		FROM sending_items si LEFT JOIN mails m ON m.id = si.mail_id
		WHERE si.sending_id = ANY($1) GROUP BY si.sending_id, si.channel`, ids, ItemSent, ItemFailed, ItemSkipped, mail.StatusSent, mail.StatusFailed)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	var sid, c string
	var n Counts
	_, err = pgx.ForEachRow(rows, []any{&sid, &c, &n.Sent, &n.Failed, &n.Skipped}, func() error {
		q := byID[sid]
		q.Channels[c] = n
		q.Sent, q.Failed, q.Skipped = q.Sent+n.Sent, q.Failed+n.Failed, q.Skipped+n.Skipped
		return nil
	})
	if err != nil {
		return nil, store.Unavailable(err)
	}
	for _, q := range out {
		q.Status = "running"
		if q.Sent+q.Failed+q.Skipped == q.Total {
			q.Status = "done"
		}
	}
	return out, nil
}

// item is one (invoice, channel) of a sending, with what its message says.
type item struct {
	orderID, channel           string
	attempts                   int
	status                     order.Status
	number, locale, name       string
	email                      string
	phone                      *string
	total                      int64
	due                        time.Time
	plan, period, message, day string
}

const maxAttempts = 5

// Run works through a sending's items until none is left, then marks its
// outbox job done. Several runs of one sending share the work (items are
// leased); a run that finds only items leased by another waits for them,
// so the sending is done when its last run returns. Called by the worker
// (sending:run).
func (s *Service) Run(ctx context.Context, sendingID, outboxID string) error {
	holder := store.NewID("run")
	var message string
	var day time.Time
	err := s.pool.QueryRow(ctx, `SELECT message, business_day FROM sendings WHERE id = $1`, sendingID).Scan(&message, &day)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: sending %s does not exist in this database", ErrPoison, sendingID)
	}
	if err != nil {
		return store.Unavailable(err)
	}
	for {
		if err := s.heartbeat(ctx, sendingID, holder); err != nil {
			return err
		}
		batch, err := s.claim(ctx, sendingID, holder)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			wait, left, err := s.waitFor(ctx, sendingID)
			if err != nil {
				return err
			}
			if !left {
				_, err := s.pool.Exec(ctx, `UPDATE sendings SET finished_at = coalesce(finished_at, $2) WHERE id = $1`, sendingID, s.clock.Now())
				if err != nil {
					return store.Unavailable(err)
				}
				return outbox.MarkDone(ctx, s.pool, outboxID)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(wait, s.lease/4)):
			}
			continue
		}
		for _, it := range batch {
			if err := s.heartbeat(ctx, sendingID, holder); err != nil {
				return err
			}
			it.message, it.day = message, day.Format(time.DateOnly)
			if err := s.process(ctx, sendingID, holder, it, day); err != nil {
				return err
			}
		}
	}
}

// ErrPoison marks a sending task that can never run (its sending is not in
// this database); the worker archives it.
var ErrPoison = errors.New("sending: task cannot run")

// heartbeat keeps the sending alive and renews the leases this run holds.
func (s *Service) heartbeat(ctx context.Context, sendingID, holder string) error {
	_, err := s.pool.Exec(ctx, `
		WITH h AS (UPDATE sendings SET heartbeat_at = clock_timestamp() WHERE id = $1)
		UPDATE sending_items SET lease_until = clock_timestamp() + make_interval(secs => $3)
		WHERE sending_id = $1 AND holder = $2 AND status = $4`, sendingID, holder, s.lease.Seconds(), ItemPending)
	return store.Unavailable(err)
}

// claim leases up to 10 pending items that nobody holds and that are not
// waiting for a retry.
func (s *Service) claim(ctx context.Context, sendingID, holder string) ([]item, error) {
	rows, err := s.pool.Query(ctx, `
		WITH c AS (
			UPDATE sending_items si SET holder = $2, lease_until = clock_timestamp() + make_interval(secs => $3)
			WHERE (si.sending_id, si.order_id, si.channel) IN (
				SELECT sending_id, order_id, channel FROM sending_items
				WHERE sending_id = $1 AND status = $4 AND (lease_until IS NULL OR lease_until < clock_timestamp())
					AND (next_attempt_at IS NULL OR next_attempt_at <= clock_timestamp())
				ORDER BY order_id, channel LIMIT 10 FOR UPDATE SKIP LOCKED)
			RETURNING si.order_id, si.channel, si.attempts)
		SELECT c.order_id, c.channel, c.attempts, o.status, i.number, o.locale, o.requester_name, o.requester_email, sub.customer_phone,
			o.total, o.due_date, coalesce(it.description, it.plan_id, ''), coalesce(it.period, '')
		FROM c JOIN orders o ON o.id = c.order_id JOIN invoices i ON i.order_id = o.id
		JOIN subscriptions sub ON sub.id = o.subscription_id
		JOIN order_items it ON it.order_id = o.id AND it.line = 0
		ORDER BY c.order_id, c.channel`, sendingID, holder, s.lease.Seconds(), ItemPending)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (item, error) {
		var it item
		err := r.Scan(&it.orderID, &it.channel, &it.attempts, &it.status, &it.number, &it.locale, &it.name, &it.email, &it.phone,
			&it.total, &it.due, &it.plan, &it.period)
		return it, err
	})
	return list, store.Unavailable(err)
}

// waitFor says whether items are left and how long until one may be
// claimed (a lease or a retry runs out).
func (s *Service) waitFor(ctx context.Context, sendingID string) (time.Duration, bool, error) {
	var n int
	var secs *float64
	err := s.pool.QueryRow(ctx, `
		SELECT count(*), extract(epoch FROM min(greatest(coalesce(lease_until, '-infinity'), coalesce(next_attempt_at, '-infinity')) - clock_timestamp()))::float8
		FROM sending_items WHERE sending_id = $1 AND status = $2`, sendingID, ItemPending).Scan(&n, &secs)
	if err != nil {
		return 0, false, store.Unavailable(err)
	}
	wait := 100 * time.Millisecond
	if secs != nil && *secs > 0 {
		wait = time.Duration(*secs*float64(time.Second)) + 10*time.Millisecond
	}
	return wait, n > 0, nil
}

// finish records an item's end (sent, failed, skipped) at now if this run
// still holds it.
func finish(ctx context.Context, tx pgx.Tx, sendingID, holder string, it item, status ItemStatus, reason, mailID string, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE sending_items SET status = $5, reason = $6, mail_id = $7, lease_until = NULL, updated_at = $8
		WHERE sending_id = $1 AND order_id = $2 AND channel = $3 AND holder = $4 AND status = $9`,
		sendingID, it.orderID, it.channel, holder, status, nullable(reason), nullable(mailID), now, ItemPending)
	return err
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// process sends one item's message, at most once per business day.
func (s *Service) process(ctx context.Context, sendingID, holder string, it item, day time.Time) error {
	if it.status != order.StatusAwaitingPayment && it.status != order.StatusRejected {
		return store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			return finish(ctx, tx, sendingID, holder, it, ItemSkipped, "the invoice is "+string(it.status), "", s.clock.Now())
		})
	}
	if it.channel == ChannelEmail {
		return s.email(ctx, sendingID, holder, it, day)
	}
	return s.whatsapp(ctx, sendingID, holder, it, day)
}

// claimDelivery claims the (invoice, channel, message, day) key for this
// sending. It returns "" when this sending may send it now, or the status
// of someone else's claim (another sending) or of our own earlier record.
func claimDelivery(ctx context.Context, tx pgx.Tx, sendingID string, it item, status DeliveryStatus, now time.Time) (other string, otherStatus DeliveryStatus, err error) {
	tag, err := tx.Exec(ctx, `INSERT INTO deliveries (order_id, channel, message, business_day, sending_id, status, claimed_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING`, it.orderID, it.channel, it.message, it.day, sendingID, status, now)
	if err != nil || tag.RowsAffected() == 1 {
		return "", "", err
	}
	err = tx.QueryRow(ctx, `SELECT sending_id, status FROM deliveries WHERE order_id = $1 AND channel = $2 AND message = $3 AND business_day = $4 FOR UPDATE`,
		it.orderID, it.channel, it.message, it.day).Scan(&other, &otherStatus)
	return other, otherStatus, err
}

// email queues the mail (the billing mail again, UNPAID PDF attached, or a
// reminder) through the mail service, with the delivery key in one
// transaction: the mail row's id is per invoice, message and day too.
func (s *Service) email(ctx context.Context, sendingID, holder string, it item, day time.Time) error {
	kind := mail.KindBilling
	if it.message == MessageReminder {
		kind = mail.KindReminder
	}
	mailID := fmt.Sprintf("mail_%s_%s_%s", kind, it.orderID, day.Format("20060102"))
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.clock.Now()
		other, _, err := claimDelivery(ctx, tx, sendingID, it, DeliverySent, now)
		if err != nil {
			return err
		}
		if other != "" && other != sendingID {
			return finish(ctx, tx, sendingID, holder, it, ItemSkipped, "already sent today by sending "+other, "", now)
		}
		data, _ := json.Marshal(mail.ReminderData{DaysOverdue: max(0, int(day.Sub(it.due).Hours()/24))})
		o := &order.Order{ID: it.orderID, Requester: order.Requester{Name: it.name, Email: it.email}, Locale: it.locale}
		if _, err := mail.QueueAs(ctx, tx, o, kind, mailID, data, now); err != nil {
			return err
		}
		return finish(ctx, tx, sendingID, holder, it, ItemSent, "", mailID, now)
	})
	return err
}

// whatsapp claims the delivery, waits for a rate slot, sends, and records
// the gateway's answer.
func (s *Service) whatsapp(ctx context.Context, sendingID, holder string, it item, day time.Time) error {
	if it.phone == nil {
		return store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			return finish(ctx, tx, sendingID, holder, it, ItemSkipped, "the customer has no phone", "", s.clock.Now())
		})
	}
	var skip bool
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.clock.Now()
		other, status, err := claimDelivery(ctx, tx, sendingID, it, DeliveryClaimed, now)
		if err != nil {
			return err
		}
		switch {
		case other == "":
			return nil
		case other != sendingID:
			skip = true
			return finish(ctx, tx, sendingID, holder, it, ItemSkipped, "already sent today by sending "+other, "", now)
		case status == DeliverySent:
			skip = true
			return finish(ctx, tx, sendingID, holder, it, ItemSent, "", "", now)
		case status == DeliveryFailed:
			skip = true
			return finish(ctx, tx, sendingID, holder, it, ItemFailed, "", "", now)
		}
		// Our own claim without a record: an earlier run died after
		// claiming it (perhaps after the gateway took it), or the gateway
		// failed transiently. Send it (again).
		return nil
	})
	if err != nil || skip {
		return err
	}
	if err := s.slot(ctx); err != nil {
		return err
	}
	// From here the outcome must be recorded whatever happens to the task.
	wctx := context.WithoutCancel(ctx)
	serr := s.wa.Send(wctx, strings.TrimPrefix(*it.phone, "+"), s.text(it, day))
	return store.InTx(wctx, s.pool, func(tx pgx.Tx) error {
		now := s.clock.Now()
		key := []any{it.orderID, it.channel, it.message, it.day}
		switch {
		case serr == nil:
			if _, err := tx.Exec(wctx, `UPDATE deliveries SET status = $5, sent_at = $6, attempts = attempts + 1, last_error = NULL
				WHERE order_id = $1 AND channel = $2 AND message = $3 AND business_day = $4`, append(key, DeliverySent, now)...); err != nil {
				return err
			}
			return finish(wctx, tx, sendingID, holder, it, ItemSent, "", "", now)
		case transient(serr) && it.attempts+1 < maxAttempts:
			if _, err := tx.Exec(wctx, `UPDATE deliveries SET attempts = attempts + 1, last_error = $5
				WHERE order_id = $1 AND channel = $2 AND message = $3 AND business_day = $4`, append(key, serr.Error())...); err != nil {
				return err
			}
			backoff := time.Second << it.attempts
			_, err := tx.Exec(wctx, `UPDATE sending_items SET attempts = attempts + 1, reason = $5, holder = NULL, lease_until = NULL,
				next_attempt_at = clock_timestamp() + make_interval(secs => $6), updated_at = $7
				WHERE sending_id = $1 AND order_id = $2 AND channel = $3 AND holder = $4 AND status = $8`,
				sendingID, it.orderID, it.channel, holder, serr.Error(), backoff.Seconds(), now, ItemPending)
			s.log.Warn("whatsapp send failed; retrying", "sending_id", sendingID, "order_id", it.orderID, "attempt", it.attempts+1, "err", serr)
			return err
		default:
			if _, err := tx.Exec(wctx, `UPDATE deliveries SET status = $6, attempts = attempts + 1, last_error = $5
				WHERE order_id = $1 AND channel = $2 AND message = $3 AND business_day = $4`, append(key, serr.Error(), DeliveryFailed)...); err != nil {
				return err
			}
			if _, err := tx.Exec(wctx, `UPDATE sending_items SET attempts = attempts + 1 WHERE sending_id = $1 AND order_id = $2 AND channel = $3`,
				sendingID, it.orderID, it.channel); err != nil {
				return err
			}
			return finish(wctx, tx, sendingID, holder, it, ItemFailed, serr.Error(), "", now)
		}
	})
}

// slot waits for the next WhatsApp slot, shared by every process: the row
// moves on by one interval per message (wall time: the gateway's limit is
// about real seconds, not the service clock).
func (s *Service) slot(ctx context.Context) error {
	if s.interval <= 0 {
		return nil
	}
	var wait float64
	err := s.pool.QueryRow(ctx, `
		INSERT INTO whatsapp_slots (id, next_slot) VALUES (1, clock_timestamp() + make_interval(secs => $1))
		ON CONFLICT (id) DO UPDATE SET next_slot = greatest(whatsapp_slots.next_slot, clock_timestamp()) + make_interval(secs => $1)
		RETURNING extract(epoch FROM next_slot - make_interval(secs => $1) - clock_timestamp())::float8`, s.interval.Seconds()).Scan(&wait)
	if err != nil {
		return store.Unavailable(err)
	}
	if wait <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(wait * float64(time.Second))):
		return nil
	}
}

// text is the WhatsApp message: the invoice number, amount, due date and
// the signed PDF link. It is the same for one invoice, message and day
// (the link's expiry is fixed by the day), so a message sent twice is
// recognisably the same.
func (s *Service) text(it item, day time.Time) string {
	exp := time.Date(day.Year(), day.Month(), day.Day()+31, 0, 0, 0, 0, s.loc)
	link := s.publicURL + "/v1/orders/" + it.orderID + "/proforma.pdf?" + s.signer.Query(it.orderID, exp)
	if !s.links.IsZero() {
		// The customer pays from the pay page; the PDF stays beside it.
		link = s.links.PayURL(it.orderID) + " (PDF: " + link + ")"
	}
	due := it.due.Format("02-01-2006")
	amount := proforma.Rupiah(it.total)
	overdue := int(day.Sub(it.due).Hours() / 24)
	if it.locale == "en" {
		if it.message == MessageReminder {
			msg := fmt.Sprintf("Hello %s, a reminder: invoice %s (%s %s) of %s was due on %s", it.name, it.number, it.plan, it.period, amount, due)
			if overdue > 0 {
				msg += " (" + strconv.Itoa(overdue) + " days overdue)"
			}
			return msg + " and is not paid yet. Pay: " + link
		}
		return fmt.Sprintf("Hello %s, invoice %s for %s %s: %s, due %s. Pay: %s", it.name, it.number, it.plan, it.period, amount, due, link)
	}
	if it.message == MessageReminder {
		msg := fmt.Sprintf("Halo %s, pengingat: tagihan %s (%s %s) sebesar %s jatuh tempo %s", it.name, it.number, it.plan, it.period, amount, due)
		if overdue > 0 {
			msg += " (lewat " + strconv.Itoa(overdue) + " hari)"
		}
		return msg + " dan belum dibayar. Bayar: " + link
	}
	return fmt.Sprintf("Halo %s, tagihan %s untuk %s %s: %s, jatuh tempo %s. Bayar: %s", it.name, it.number, it.plan, it.period, amount, due, link)
}

// Sweep revives every unfinished sending whose runs all died (its
// heartbeat stopped for longer than a lease): a new run job, committed
// with the revival count. The worker's sweeper calls it.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	n := 0
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			UPDATE sendings SET revivals = revivals + 1, heartbeat_at = clock_timestamp()
			WHERE id IN (SELECT id FROM sendings WHERE finished_at IS NULL AND heartbeat_at < clock_timestamp() - make_interval(secs => $1)
				AND EXISTS (SELECT 1 FROM sending_items si WHERE si.sending_id = sendings.id AND si.status = $2)
				FOR UPDATE SKIP LOCKED)
			RETURNING id, revivals`, s.lease.Seconds(), ItemPending)
		if err != nil {
			return err
		}
		type rev struct {
			id string
			n  int
		}
		revs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rev, error) {
			var x rev
			return x, r.Scan(&x.id, &x.n)
		})
		if err != nil {
			return err
		}
		for _, r := range revs {
			if err := outbox.Enqueue(ctx, tx, task.Sending(r.id, r.n)); err != nil {
				return err
			}
			s.log.Warn("sending revived: its runs stopped", "sending_id", r.id, "revival", r.n)
		}
		n = len(revs)
		return nil
	})
	if err != nil {
		return 0, store.Unavailable(err)
	}
	return n, nil
}
