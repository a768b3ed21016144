package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/store"
)

// schedule is the wait after each failed attempt (API.md): after the
// eighth try fails the delivery is failed. Waits run on the service clock,
// like every deadline in lunas, so a test that moves the clock moves them.
var schedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Outcomes of one attempt, for metrics.
const (
	OutcomeDelivered = "delivered" // 2xx
	OutcomeRetry     = "retry"     // failed, another attempt is scheduled
	OutcomeFailed    = "failed"    // failed, and that was the last attempt
	OutcomeGone      = "gone"      // 410: the endpoint is disabled
)

// Renderer turns an event's snapshot of kind (KindOrder, KindAttempt) into
// its data as the API shows it. order.Views implements it; cmd/lunas
// wires it (this package sits below invoice).
type Renderer interface {
	Render(kind string, snapshot json.RawMessage) (any, error)
}

// SenderOptions configures a Sender.
type SenderOptions struct {
	Pool     *store.DB
	Clock    clock.Clock
	Sealer   *Sealer
	Policy   Policy
	Renderer Renderer
	Location *time.Location
	Logger   *slog.Logger
	// Concurrency is how many deliveries one process posts at once (16).
	Concurrency int
	// PerEndpoint is how many of them may go to one endpoint (4): a slow
	// or dead endpoint holds at most this many, never the whole pool.
	PerEndpoint int
	// Timeout is how long an endpoint has to answer (15 s).
	Timeout time.Duration
	// Poll is how often the sender looks for due deliveries (100 ms).
	Poll time.Duration
}

// Sender posts due deliveries. Every `work` process runs one, with its own
// goroutines — not the asynq worker's — so webhooks never take a slot from
// settlement or mail, and its per-endpoint cap keeps one endpoint from
// taking every slot of the sender. Deliveries are claimed in PostgreSQL
// with a lease (SKIP LOCKED), so any number of senders share the work and
// a sender killed mid-post leaves its deliveries to another once the lease
// ends (the endpoint may then see the same webhook-id twice: at least
// once, as the specification expects receivers to handle).
type Sender struct {
	o      SenderOptions
	client *http.Client
	lease  time.Duration
	kick   chan struct{}
	// Outcome is called once per attempt with its outcome (metrics).
	Outcome func(outcome string)
}

// NewSender returns a sender; Run starts it.
func NewSender(o SenderOptions) *Sender {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.PerEndpoint <= 0 {
		o.PerEndpoint = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf, past the policy
		DialContext:           o.Policy.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   o.PerEndpoint,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
	}
	return &Sender{o: o, lease: o.Timeout + 15*time.Second, kick: make(chan struct{}, 1), Outcome: func(string) {},
		client: &http.Client{Transport: tr, Timeout: o.Timeout,
			// A redirect is an answer that is not 2xx: retried, never followed
			// (following it would take the body and signature elsewhere).
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Kick wakes the sender now (a manual retry in this process).
func (s *Sender) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

type claim struct {
	id       int64
	endpoint string
}

// Run sends until ctx ends, then waits for the posts in flight (each ends
// within the timeout) and records them.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	done := make(chan string, s.o.Concurrency)
	inflight := map[string]int{}
	running := 0
	finish := func(ep string) {
		running--
		if inflight[ep]--; inflight[ep] <= 0 {
			delete(inflight, ep)
		}
	}
	// Posts in flight finish even when ctx ends: the endpoint may already
	// have the event, and the outcome must be recorded.
	sendCtx := context.WithoutCancel(ctx)
	for {
		for free := s.o.Concurrency - running; free > 0 && ctx.Err() == nil; free = s.o.Concurrency - running {
			var full []string
			for ep, n := range inflight {
				if n >= s.o.PerEndpoint {
					full = append(full, ep)
				}
			}
			claims, err := s.claim(ctx, free, full)
			if err != nil {
				if ctx.Err() == nil {
					s.o.Logger.Warn("webhook: claim deliveries", "err", err)
				}
				break
			}
			started := 0
			var extra []int64
			for _, c := range claims {
				if inflight[c.endpoint] >= s.o.PerEndpoint {
					extra = append(extra, c.id)
					continue
				}
				inflight[c.endpoint]++
				running++
				started++
				go func(c claim) {
					s.deliver(sendCtx, c.id)
					done <- c.endpoint
				}(c)
			}
			if len(extra) > 0 {
				if _, err := s.o.Pool.Exec(sendCtx, `UPDATE webhook_deliveries SET lease_until = NULL WHERE id = ANY($1)`, extra); err != nil {
					s.o.Logger.Warn("webhook: release deliveries", "err", err)
				}
			}
			if started == 0 || len(claims) < free {
				break
			}
		}
		select {
		case <-ctx.Done():
			for running > 0 {
				finish(<-done)
			}
			return
		case ep := <-done:
			finish(ep)
		case <-s.kick:
		case <-t.C:
		}
	}
}

// claim leases up to n due deliveries of enabled endpoints, at most
// PerEndpoint of each, none of the endpoints in full. Endpoints are taken
// in random order, so a short pool still serves every endpoint in turn.
// Due-ness is the service clock's (next_attempt_at); the lease is the
// database's (now()): it is about a sender dying in real time, which a
// test clock moved by days must not fake.
func (s *Sender) claim(ctx context.Context, n int, full []string) ([]claim, error) {
	if full == nil {
		full = []string{}
	}
	rows, err := s.o.Pool.Query(ctx, `
		UPDATE webhook_deliveries d SET lease_until = now() + make_interval(secs => $4)
		FROM (
			SELECT c.id FROM (SELECT id FROM webhook_endpoints WHERE status = $6 AND id <> ALL($3) ORDER BY random()) e
			CROSS JOIN LATERAL (
				SELECT x.id FROM webhook_deliveries x
				WHERE x.endpoint_id = e.id AND x.status = $7 AND x.next_attempt_at <= $1
					AND (x.lease_until IS NULL OR x.lease_until < now())
				ORDER BY x.next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) c
			LIMIT $5) pick
		WHERE d.id = pick.id
		RETURNING d.id, d.endpoint_id`, s.o.Clock.Now(), s.o.PerEndpoint, full, s.lease.Seconds(), n, EndpointEnabled, DeliveryPending)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (claim, error) {
		var c claim
		return c, r.Scan(&c.id, &c.endpoint)
	})
}

// attempt is what deliver needs of a claimed delivery.
type attempt struct {
	eventID, eventType, kind string
	snapshot, body           []byte
	eventAt                  time.Time
	endpointID, url          string
	status                   EndpointStatus
	sealed                   []byte
	attempts, base           int
}

// deliver makes one attempt at delivery id and records its outcome.
func (s *Sender) deliver(ctx context.Context, id int64) {
	var a attempt
	err := s.o.Pool.QueryRow(ctx, `
		SELECT ev.id, ev.type, ev.kind, ev.snapshot, ev.body, ev.created_at, e.id, e.url, e.status, e.secret_sealed, d.attempts, d.schedule_base
		FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id JOIN webhook_endpoints e ON e.id = d.endpoint_id
		WHERE d.id = $1 AND d.status = $2`, id, DeliveryPending).
		Scan(&a.eventID, &a.eventType, &a.kind, &a.snapshot, &a.body, &a.eventAt, &a.endpointID, &a.url, &a.status, &a.sealed, &a.attempts, &a.base)
	if errors.Is(err, pgx.ErrNoRows) {
		return // delivered or ended meanwhile
	}
	if err != nil {
		s.o.Logger.Warn("webhook: load delivery", "delivery_id", id, "err", err)
		return // the lease ends and it is claimed again
	}
	if a.body == nil {
		if a.body, err = s.body(ctx, a); err != nil {
			s.o.Logger.Error("webhook: render event", "event_id", a.eventID, "err", err)
			s.record(ctx, id, a, result{err: "cannot render the event: " + err.Error()})
			return
		}
	}
	secret, err := s.o.Sealer.Open(a.endpointID, a.sealed)
	if err != nil {
		s.o.Logger.Error("webhook: endpoint secret", "endpoint_id", a.endpointID, "err", err)
		s.record(ctx, id, a, result{err: "the endpoint's secret cannot be opened"})
		return
	}
	s.record(ctx, id, a, s.post(ctx, a, secret))
}

// body renders an event's body once and stores it; every later attempt
// (any endpoint, any process) sends the stored bytes.
func (s *Sender) body(ctx context.Context, a attempt) ([]byte, error) {
	var data any = json.RawMessage(a.snapshot)
	if a.kind != KindJSON {
		if s.o.Renderer == nil {
			return nil, fmt.Errorf("no renderer for kind %q", a.kind)
		}
		v, err := s.o.Renderer.Render(a.kind, a.snapshot)
		if err != nil {
			return nil, err
		}
		data = v
	}
	b, err := json.Marshal(struct {
		Type      string `json:"type"`
		Timestamp string `json:"timestamp"`
		Data      any    `json:"data"`
	}{a.eventType, a.eventAt.In(s.o.Location).Format(time.RFC3339), data})
	if err != nil {
		return nil, err
	}
	// The first to store wins; everyone sends the stored bytes. The read
	// of the winner's body is its own statement: inside the UPDATE's
	// statement it would see the snapshot from before a concurrent
	// winner committed (NULL), and an empty body would be signed and sent
	// (two endpoints of one event render at once).
	if _, err := s.o.Pool.Exec(ctx, `UPDATE webhook_events SET body = $2 WHERE id = $1 AND body IS NULL`, a.eventID, b); err != nil {
		return nil, err
	}
	var stored []byte
	if err := s.o.Pool.QueryRow(ctx, `SELECT body FROM webhook_events WHERE id = $1`, a.eventID).Scan(&stored); err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		return nil, fmt.Errorf("event %s has no stored body", a.eventID)
	}
	return stored, nil
}

type result struct {
	status   int    // 0: no answer
	err      string // transport failure
	response string // a short summary of the answer's body (summarize)
}

// post sends one attempt: webhook-timestamp is the wall clock of this
// attempt (receivers check it against theirs), the body is the event's.
func (s *Sender) post(ctx context.Context, a attempt, secret string) result {
	ts := time.Now()
	sig, err := Sign(secret, a.eventID, ts, a.body)
	if err != nil {
		return result{err: err.Error()}
	}
	rctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, a.url, bytes.NewReader(a.body))
	if err != nil {
		return result{err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "lunas-webhooks/1")
	req.Header.Set(HeaderID, a.eventID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	res, err := s.client.Do(req)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "Client.Timeout") {
			msg = fmt.Sprintf("no answer within %s", s.o.Timeout)
		} else if errors.Is(err, ErrRefused) {
			msg = "refused by the address policy: " + msg
		}
		return result{err: msg}
	}
	defer res.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	rest, _ := io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // lets the connection be reused
	return result{status: res.StatusCode, response: summarize(res.Header.Get("Content-Type"), head, int64(len(head))+rest)}
}

// maxSnippet is how much of a receiver's answer finance is shown.
const maxSnippet = 64

// summarize is what last_response keeps of a receiver's answer: the
// endpoint is a URL finance typed, and outside production it may be any
// service on the network (an internal admin page, a metadata service's
// credentials), so lunas never echoes a foreign answer whole. A short plain
// text or JSON answer ("ok", {"received":true}) is kept, its first 64
// characters with control characters and runs of white space made one
// space; anything else is named by its type and size only.
func summarize(contentType string, head []byte, size int64) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	if size == 0 {
		return "" // stored as null
	}
	textual := mt == "" || mt == "text/plain" || mt == "application/json" || strings.HasSuffix(mt, "+json")
	if !textual {
		n := strconv.FormatInt(size, 10) + " bytes"
		if size > 64<<10 {
			n = "more than 64 KiB"
		}
		return "(" + mt + ", " + n + ")"
	}
	var b strings.Builder
	n, space := 0, false
	for _, r := range strings.ToValidUTF8(string(head), string(utf8.RuneError)) {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = b.Len() > 0
			continue
		}
		if n == maxSnippet {
			b.WriteString("…")
			return b.String()
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	if size > int64(len(head)) {
		b.WriteString("…")
	}
	return b.String()
}

// record stores an attempt's outcome: delivered, retried on the schedule,
// failed after the last try; 410 disables the endpoint and ends its
// pending deliveries.
func (s *Sender) record(ctx context.Context, id int64, a attempt, r result) {
	now := s.o.Clock.Now()
	outcome := OutcomeRetry
	status := DeliveryPending
	next := (*time.Time)(nil)
	switch {
	case r.status >= 200 && r.status < 300:
		outcome, status = OutcomeDelivered, DeliveryDelivered
	case r.status == http.StatusGone:
		outcome, status = OutcomeGone, DeliveryFailed
	default:
		if n := a.attempts + 1 - a.base; n <= len(schedule) {
			t := now.Add(schedule[n-1])
			next = &t
		} else {
			outcome, status = OutcomeFailed, DeliveryFailed
		}
	}
	var code *int
	if r.status != 0 {
		code = &r.status
	}
	err := store.InTx(ctx, s.o.Pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = $2, last_status = $3,
			last_error = $4, last_response = $5, status = $6, next_attempt_at = coalesce($7, next_attempt_at), lease_until = NULL,
			delivered_at = CASE WHEN $6 = $8 THEN $2 ELSE delivered_at END
			WHERE id = $1 AND status = $9`, id, now, code, nullable(r.err), nullable(r.response), status, next, DeliveryDelivered, DeliveryPending)
		if err != nil || outcome != OutcomeGone {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET status = $4, disabled_reason = $2, updated_at = $3
			WHERE id = $1 AND status = $5`, a.endpointID, "answered 410 Gone at "+now.In(s.o.Location).Format(time.RFC3339), now,
			EndpointDisabled, EndpointEnabled)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return failPending(ctx, tx, a.endpointID, "endpoint disabled: it answered 410 Gone")
	})
	if err != nil {
		s.o.Logger.Warn("webhook: record attempt", "delivery_id", id, "err", err)
		return
	}
	s.Outcome(outcome)
	lvl := slog.LevelInfo
	if outcome != OutcomeDelivered {
		lvl = slog.LevelWarn
	}
	s.o.Logger.Log(ctx, lvl, "webhook delivery attempt", "delivery_id", id, "event_id", a.eventID, "type", a.eventType,
		"endpoint_id", a.endpointID, "outcome", outcome, "status", r.status, "err", r.err, "attempt", a.attempts+1)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// OldestUndelivered is the age, on the service clock, of the oldest
// pending delivery (0 when none), for /metrics.
func OldestUndelivered(ctx context.Context, pool *store.DB, now time.Time) (time.Duration, error) {
	var secs float64
	err := pool.QueryRow(ctx, `SELECT coalesce(extract(epoch FROM $1::timestamptz - min(created_at)), 0) FROM webhook_deliveries WHERE status = $2`, now, DeliveryPending).Scan(&secs)
	return time.Duration(secs * float64(time.Second)), err
}
