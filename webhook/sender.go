package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
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
//
// The database work is batched, so a delivery costs a share of a few
// statements rather than several commits of its own: one claim statement
// leases up to a batch of due deliveries per endpoint (4×PerEndpoint, at
// most 4×Concurrency held in all) and returns everything a post needs;
// the bodies the batch lacks are rendered and stored with one statement
// and read back with another; the claimed deliveries wait in a local
// queue per endpoint, from which at most PerEndpoint posts per endpoint
// and Concurrency in all are in flight; the posts hand their results to one
// recorder, which writes whatever has accumulated (up to 200) in one
// transaction. Opened endpoint secrets are kept (per endpoint, until its
// sealed secret changes). A claimed delivery waits in its queue at most
// queueWait (5 s); the lease (queueWait + Timeout + 15 s) covers that wait,
// the post and the recording, and a delivery that could not start in time
// is released unposted, so none is posted on a lease that may have lapsed
// (and so by two senders). An endpoint whose last post was slow gets no
// queue beyond its cap.
type Sender struct {
	o      SenderOptions
	client *http.Client
	// lease is the database lease of a claim: wait + Timeout + recordMargin
	// (35 s).
	lease time.Duration
	// wait is how long a claimed delivery may sit in the local queue
	// (queueWait).
	wait time.Duration
	// batch is how many deliveries of one endpoint the sender holds
	// (queued and in flight); total is how many it holds in all.
	batch, total int
	kick         chan struct{}
	// now is the local clock of the queue windows (tests move it).
	now func() time.Time
	// skipped, when set, is told of queued deliveries released unposted
	// because their window ended (tests).
	skipped func(ids []int64)

	mu      sync.Mutex
	secrets map[string]openedSecret
	// Outcome is called once per attempt with its outcome (metrics).
	Outcome func(outcome string)
}

// recordMargin is the time a lease leaves for the outcome of a post to be
// recorded after the post's timeout.
const recordMargin = 15 * time.Second

// queueWait is how long a claimed delivery may wait in the sender's local
// queue before its post starts; the lease covers it. A healthy endpoint
// drains a batch in milliseconds; one whose posts take longer than
// queueWait over the rounds of a batch (1.25 s) is slow and gets no queue.
const queueWait = 5 * time.Second

// maxRecord is the most results the recorder writes in one transaction.
const maxRecord = 200

type openedSecret struct {
	sealed []byte
	secret string
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
	return &Sender{o: o, wait: queueWait, lease: queueWait + o.Timeout + recordMargin,
		batch: 4 * o.PerEndpoint, total: 4 * o.Concurrency, now: time.Now,
		kick: make(chan struct{}, 1), secrets: map[string]openedSecret{}, Outcome: func(string) {},
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

// job is a claimed delivery with what posting it needs.
type job struct {
	id int64
	attempt
	secret string
	// lease is lease_until as the claim set it: a release compares it, so
	// it never clears another sender's lease.
	lease time.Time
	// startBy is the local time after which the delivery is not posted
	// (its lease would not cover the post and its recording).
	startBy time.Time
	// fail is set when the delivery cannot be posted (its body cannot be
	// rendered, its secret opened): that is recorded as the attempt.
	fail *result
}

// posted is the outcome of one attempt, for the recorder.
type posted struct {
	j  *job
	r  result
	at time.Time // the service clock's now when the attempt ended
}

// finished tells the loop a post ended.
type finished struct {
	endpoint string
	took     time.Duration
	gone     bool
}

// claimed is what one claim brought back.
type claimed struct {
	jobs  []*job         // to post
	got   map[string]int // per endpoint, the failed ones included
	asked map[string]int // the room asked for of known endpoints (others: batch)
	limit int            // the total asked for
	n     int            // the total claimed
	err   error
}

// endpointState is the sender's local view of one endpoint.
type endpointState struct {
	queue    []*job
	inflight int
	// slow: its last post took longer than a queued delivery could wait
	// behind a full batch, or its queue did not drain in time, so it gets
	// no queue beyond its cap (until a post of it is fast again).
	slow bool
	// exhausted: the last claim found fewer due deliveries than it asked
	// for; it is asked again at the next poll, not after each post.
	exhausted bool
	// gone: it answered 410; nothing more is claimed for it before the
	// next poll (the recorder disables it meanwhile).
	gone bool
}

// room is how many more deliveries of the endpoint the sender may claim.
func (s *Sender) room(st *endpointState) int {
	if st.gone {
		return 0
	}
	limit := s.batch
	if st.slow {
		limit = s.o.PerEndpoint
	}
	return max(0, limit-len(st.queue)-st.inflight)
}

// Run sends until ctx ends, then waits for the posts in flight (each ends
// within the timeout) and records them; deliveries claimed but not started
// are released.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	// Posts in flight finish even when ctx ends: the endpoint may already
	// have the event, and the outcome must be recorded. A claim, once sent,
	// is read to its end too, so that what it leased is released.
	sendCtx := context.WithoutCancel(ctx)
	rec := make(chan posted, maxRecord)
	recorded := make(chan struct{})
	go func() { s.recorder(sendCtx, rec); close(recorded) }()

	done := make(chan finished, s.o.Concurrency)
	claims := make(chan claimed, 1)
	eps := map[string]*endpointState{}
	state := func(ep string) *endpointState {
		st := eps[ep]
		if st == nil {
			st = &endpointState{}
			eps[ep] = st
		}
		return st
	}
	running, queued := 0, 0
	claiming, poll := false, true
	var stale []*job // queued past their window: released unposted

	finish := func(f finished) {
		running--
		st := state(f.endpoint)
		st.inflight--
		st.slow = f.took > s.wait/time.Duration(max(1, s.batch/s.o.PerEndpoint))
		if f.gone && !st.gone {
			// 410: the rest of its queue is not posted; the recorder ends
			// those deliveries (or their lease lapses).
			st.gone = true
			queued -= len(st.queue)
			st.queue = nil
		}
	}
	add := func(c claimed) {
		claiming = false
		for _, j := range c.jobs {
			st := state(j.endpointID)
			st.queue = append(st.queue, j)
			queued++
		}
		switch {
		case c.err != nil:
			if ctx.Err() == nil {
				s.o.Logger.Warn("webhook: claim deliveries", "err", c.err)
			}
			for _, st := range eps {
				st.exhausted = true // until the next poll
			}
		case c.n < c.limit:
			// Not cut short by the limit: an endpoint that got less than
			// asked has nothing more due now.
			for ep, st := range eps {
				asked, ok := c.asked[ep]
				if !ok {
					asked = s.batch
				}
				st.exhausted = c.got[ep] < asked
			}
		default:
			for _, st := range eps {
				st.exhausted = false
			}
		}
	}

	for {
		// Start what the caps allow, oldest first per endpoint.
		for _, st := range eps {
			for len(st.queue) > 0 && st.inflight < s.o.PerEndpoint && running < s.o.Concurrency {
				j := st.queue[0]
				st.queue[0] = nil
				st.queue = st.queue[1:]
				queued--
				if s.now().After(j.startBy) {
					stale = append(stale, j)
					st.slow = true // its queue did not drain in time
					continue
				}
				st.inflight++
				running++
				go func(j *job) {
					start := time.Now()
					r := s.post(sendCtx, j.attempt, j.secret)
					took := time.Since(start)
					rec <- posted{j: j, r: r, at: s.o.Clock.Now()}
					done <- finished{endpoint: j.endpointID, took: took, gone: r.status == http.StatusGone}
				}(j)
			}
		}
		if len(stale) > 0 {
			s.release(sendCtx, stale)
			if s.skipped != nil {
				ids := make([]int64, len(stale))
				for i, j := range stale {
					ids[i] = j.id
				}
				s.skipped(ids)
			}
			stale = nil
		}
		// Claim when polled, or when an endpoint's queue runs low and it
		// may have more due, in the background: posts go on meanwhile.
		if !claiming && ctx.Err() == nil && queued+running < s.total {
			want := poll
			var known []string
			var rooms []int32
			for ep, st := range eps {
				r := s.room(st)
				if !want && r > 0 && !st.exhausted && len(st.queue) < s.o.PerEndpoint {
					want = true
				}
				if r < s.batch {
					known, rooms = append(known, ep), append(rooms, int32(r))
				}
			}
			if want {
				claiming, poll = true, false
				limit := s.total - queued - running
				go func() { claims <- s.claim(sendCtx, rec, limit, known, rooms) }()
			}
		}
		select {
		case <-ctx.Done():
			// No more claims or posts: what is queued is released, what is
			// in flight finishes and is recorded.
			for claiming {
				add(<-claims)
			}
			var left []*job
			for _, st := range eps {
				left = append(left, st.queue...)
				st.queue = nil
			}
			s.release(sendCtx, left)
			for ; running > 0; running-- {
				<-done
			}
			close(rec)
			<-recorded
			return
		case f := <-done:
			finish(f)
		case c := <-claims:
			add(c)
		case <-s.kick:
			poll = true
		case <-t.C:
			poll = true
			now := s.now()
			for ep, st := range eps {
				st.exhausted, st.gone = false, false
				// A queue behind a slow endpoint: what can no longer start
				// in time is released now, not when a slot frees.
				for len(st.queue) > 0 && now.After(st.queue[0].startBy) {
					stale = append(stale, st.queue[0])
					st.slow = true
					st.queue[0] = nil
					st.queue = st.queue[1:]
					queued--
				}
				if len(st.queue) == 0 && st.inflight == 0 && !st.slow {
					delete(eps, ep)
				}
			}
		}
	}
}

// release ends the leases of claimed deliveries that were not posted, so
// that any sender may claim them now; a lease that is no longer the one
// the claim took (it lapsed and another sender holds the delivery) is
// left alone.
func (s *Sender) release(ctx context.Context, js []*job) {
	if len(js) == 0 {
		return
	}
	ids := make([]int64, len(js))
	leases := make([]time.Time, len(js))
	for i, j := range js {
		ids[i], leases[i] = j.id, j.lease
	}
	if _, err := s.o.Pool.Exec(ctx, `UPDATE webhook_deliveries d SET lease_until = NULL
		FROM unnest($1::bigint[], $2::timestamptz[]) r(id, lease) WHERE d.id = r.id AND d.lease_until = r.lease`, ids, leases); err != nil {
		s.o.Logger.Warn("webhook: release deliveries", "err", err)
	}
}

// claim leases up to limit due deliveries of enabled endpoints: at most
// the room given for each endpoint in known (its batch less what the
// sender holds), a batch of every other. Endpoints are taken in random
// order, so a short limit still serves every endpoint in turn. Due-ness is
// the service clock's (next_attempt_at); the lease is the database's
// (now()): it is about a sender dying in real time, which a test clock
// moved by days must not fake. The statement returns what posting needs;
// bodies the batch lacks are rendered and stored (bodies), secrets opened
// (cached). Deliveries that cannot be posted go to the recorder as failed
// attempts.
func (s *Sender) claim(ctx context.Context, rec chan<- posted, limit int, known []string, rooms []int32) claimed {
	c := claimed{limit: limit, got: map[string]int{}, asked: map[string]int{}}
	for i, ep := range known {
		c.asked[ep] = int(rooms[i])
	}
	if known == nil {
		known, rooms = []string{}, []int32{}
	}
	startBy := s.now().Add(s.wait) // before the lease starts, so within it
	rows, err := s.o.Pool.Query(ctx, `
		UPDATE webhook_deliveries d SET lease_until = now() + make_interval(secs => $4)
		FROM (
			SELECT c.id FROM (
				SELECT w.id, coalesce(k.room, $2) AS room FROM webhook_endpoints w
				LEFT JOIN unnest($3::text[], $8::int[]) k(id, room) ON k.id = w.id
				WHERE w.status = $6 AND coalesce(k.room, $2) > 0 ORDER BY random()) ep
			CROSS JOIN LATERAL (
				SELECT x.id FROM webhook_deliveries x
				WHERE x.endpoint_id = ep.id AND x.status = $7 AND x.next_attempt_at <= $1
					AND (x.lease_until IS NULL OR x.lease_until < now())
				ORDER BY x.next_attempt_at LIMIT ep.room FOR UPDATE SKIP LOCKED) c
			LIMIT $5) pick, webhook_events ev, webhook_endpoints e
		WHERE d.id = pick.id AND ev.id = d.event_id AND e.id = d.endpoint_id
		RETURNING d.id, d.lease_until, d.attempts, d.schedule_base, ev.id, ev.type, ev.kind,
			CASE WHEN ev.body IS NULL THEN ev.snapshot END, ev.body, ev.created_at, e.id, e.url, e.status, e.secret_sealed`,
		s.o.Clock.Now(), s.batch, known, s.lease.Seconds(), limit, EndpointEnabled, DeliveryPending, rooms)
	if err != nil {
		c.err = err
		return c
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*job, error) {
		j := &job{startBy: startBy}
		return j, r.Scan(&j.id, &j.lease, &j.attempts, &j.base, &j.eventID, &j.eventType, &j.kind, &j.snapshot, &j.body, &j.eventAt,
			&j.endpointID, &j.url, &j.status, &j.sealed)
	})
	if err != nil {
		c.err = err
		return c
	}
	c.n = len(jobs)
	slices.SortFunc(jobs, func(a, b *job) int { return cmp.Compare(a.id, b.id) })
	if err := s.bodies(ctx, jobs); err != nil {
		// Nothing is posted: they are claimed again.
		s.release(ctx, jobs)
		c.err = fmt.Errorf("store bodies: %w", err)
		return c
	}
	for _, j := range jobs {
		c.got[j.endpointID]++
		if j.fail == nil {
			secret, err := s.secret(j.endpointID, j.sealed)
			if err != nil {
				s.o.Logger.Error("webhook: endpoint secret", "endpoint_id", j.endpointID, "err", err)
				j.fail = &result{err: "the endpoint's secret cannot be opened"}
			}
			j.secret = secret
		}
		if j.fail != nil {
			rec <- posted{j: j, r: *j.fail, at: s.o.Clock.Now()}
			continue
		}
		c.jobs = append(c.jobs, j)
	}
	return c
}

// secret opens an endpoint's sealed secret, once per sealed value.
func (s *Sender) secret(endpointID string, sealed []byte) (string, error) {
	s.mu.Lock()
	o, ok := s.secrets[endpointID]
	s.mu.Unlock()
	if ok && bytes.Equal(o.sealed, sealed) {
		return o.secret, nil
	}
	secret, err := s.o.Sealer.Open(endpointID, sealed)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.secrets[endpointID] = openedSecret{sealed: bytes.Clone(sealed), secret: secret}
	s.mu.Unlock()
	return secret, nil
}

// attempt is what posting a claimed delivery needs.
type attempt struct {
	eventID, eventType, kind string
	snapshot, body           []byte
	eventAt                  time.Time
	endpointID, url          string
	status                   EndpointStatus
	sealed                   []byte
	attempts, base           int
}

// bodies gives every job of a claimed batch its event's body: the events
// without one are rendered (once each) and stored with one statement, and
// every later attempt (any endpoint, any process) sends the stored bytes.
// A job whose event cannot be rendered gets fail. An error is the
// database's: nothing of the batch can be posted.
func (s *Sender) bodies(ctx context.Context, jobs []*job) error {
	failed := map[string]string{} // event → why it cannot be rendered
	rendered := map[string]bool{}
	var ids []string
	var bs [][]byte
	for _, j := range jobs {
		if j.body != nil || rendered[j.eventID] || failed[j.eventID] != "" {
			continue
		}
		b, err := s.render(j.attempt)
		if err != nil {
			s.o.Logger.Error("webhook: render event", "event_id", j.eventID, "err", err)
			failed[j.eventID] = "cannot render the event: " + err.Error()
			continue
		}
		rendered[j.eventID] = true
		ids, bs = append(ids, j.eventID), append(bs, b)
	}
	stored := map[string][]byte{}
	if len(ids) > 0 {
		// The first to store wins; everyone sends the stored bytes. The
		// read of the winners' bodies is its own statement: inside the
		// UPDATE's statement it would see the snapshot from before a
		// concurrent winner committed (NULL), and an empty body would be
		// signed and sent (two endpoints of one event render at once). The
		// rows are locked in id order, so two senders storing overlapping
		// batches wait for each other rather than deadlock.
		if _, err := s.o.Pool.Exec(ctx, `UPDATE webhook_events e SET body = b.body FROM unnest($1::text[], $2::bytea[]) b(id, body)
			WHERE e.id = b.id AND e.id IN (SELECT id FROM webhook_events WHERE id = ANY($1) AND body IS NULL ORDER BY id FOR UPDATE)`, ids, bs); err != nil {
			return err
		}
		rows, err := s.o.Pool.Query(ctx, `SELECT id, body FROM webhook_events WHERE id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		var id string
		var body []byte
		if _, err := pgx.ForEachRow(rows, []any{&id, &body}, func() error { stored[id] = body; return nil }); err != nil {
			return err
		}
	}
	for _, j := range jobs {
		if j.body != nil {
			continue
		}
		if why := failed[j.eventID]; why != "" {
			j.fail = &result{err: why}
		} else if j.body = stored[j.eventID]; len(j.body) == 0 {
			j.body = nil
			err := fmt.Errorf("event %s has no stored body", j.eventID)
			s.o.Logger.Error("webhook: render event", "event_id", j.eventID, "err", err)
			j.fail = &result{err: "cannot render the event: " + err.Error()}
		}
	}
	return nil
}

// render is an event's body as sent: type, timestamp (the event's, in
// the service's zone) and data.
func (s *Sender) render(a attempt) ([]byte, error) {
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
	return json.Marshal(struct {
		Type      string `json:"type"`
		Timestamp string `json:"timestamp"`
		Data      any    `json:"data"`
	}{a.eventType, a.eventAt.In(s.o.Location).Format(time.RFC3339), data})
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

// recorder writes the outcomes of attempts as they come, whatever has
// accumulated (up to maxRecord) in one transaction, until in is closed.
func (s *Sender) recorder(ctx context.Context, in <-chan posted) {
	batch := make([]posted, 0, maxRecord)
	for p := range in {
		batch = append(batch[:0], p)
	more:
		for len(batch) < maxRecord {
			select {
			case p, ok := <-in:
				if !ok {
					break more
				}
				batch = append(batch, p)
			default:
				break more
			}
		}
		s.record(ctx, batch)
	}
}

// record stores the outcomes of attempts in one transaction: delivered,
// retried on the schedule, failed after the last try; 410 disables the
// endpoint and ends its pending deliveries. When it fails the deliveries
// stay leased, and are claimed again when the lease ends.
func (s *Sender) record(ctx context.Context, batch []posted) {
	slices.SortFunc(batch, func(a, b posted) int { return cmp.Compare(a.j.id, b.j.id) }) // rows locked in id order
	n := len(batch)
	ids, ats, codes := make([]int64, n), make([]time.Time, n), make([]*int32, n)
	errs, responses, statuses, nexts := make([]*string, n), make([]*string, n), make([]string, n), make([]*time.Time, n)
	outcomes := make([]string, n)
	var gone []posted
	for i, p := range batch {
		outcome := OutcomeRetry
		status := DeliveryPending
		switch r := p.r; {
		case r.status >= 200 && r.status < 300:
			outcome, status = OutcomeDelivered, DeliveryDelivered
		case r.status == http.StatusGone:
			outcome, status = OutcomeGone, DeliveryFailed
			gone = append(gone, p)
		default:
			if k := p.j.attempts + 1 - p.j.base; k <= len(schedule) {
				t := p.at.Add(schedule[k-1])
				nexts[i] = &t
			} else {
				outcome, status = OutcomeFailed, DeliveryFailed
			}
		}
		if p.r.status != 0 {
			c := int32(p.r.status)
			codes[i] = &c
		}
		ids[i], ats[i], errs[i], responses[i], statuses[i], outcomes[i] = p.j.id, p.at, nullable(p.r.err), nullable(p.r.response), string(status), outcome
	}
	err := store.InTx(ctx, s.o.Pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE webhook_deliveries d SET attempts = d.attempts + 1, last_attempt_at = r.at, last_status = r.code,
			last_error = r.err, last_response = r.response, status = r.status, next_attempt_at = coalesce(r.next, d.next_attempt_at), lease_until = NULL,
			delivered_at = CASE WHEN r.status = $8 THEN r.at ELSE d.delivered_at END
			FROM unnest($1::bigint[], $2::timestamptz[], $3::int[], $4::text[], $5::text[], $6::text[], $7::timestamptz[]) r(id, at, code, err, response, status, next)
			WHERE d.id = r.id AND d.status = $9`, ids, ats, codes, errs, responses, statuses, nexts, DeliveryDelivered, DeliveryPending)
		if err != nil {
			return err
		}
		disabled := map[string]bool{}
		for _, p := range gone {
			if disabled[p.j.endpointID] {
				continue
			}
			disabled[p.j.endpointID] = true
			tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET status = $4, disabled_reason = $2, updated_at = $3
				WHERE id = $1 AND status = $5`, p.j.endpointID, "answered 410 Gone at "+p.at.In(s.o.Location).Format(time.RFC3339), p.at,
				EndpointDisabled, EndpointEnabled)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue
			}
			if err := failPending(ctx, tx, p.j.endpointID, "endpoint disabled: it answered 410 Gone"); err != nil {
				return err
			}
		}
		return nil
	})
	for i, p := range batch {
		if err != nil {
			s.o.Logger.Warn("webhook: record attempt", "delivery_id", p.j.id, "err", err)
			continue
		}
		s.Outcome(outcomes[i])
		lvl := slog.LevelInfo
		if outcomes[i] != OutcomeDelivered {
			lvl = slog.LevelWarn
		}
		s.o.Logger.Log(ctx, lvl, "webhook delivery attempt", "delivery_id", p.j.id, "event_id", p.j.eventID, "type", p.j.eventType,
			"endpoint_id", p.j.endpointID, "outcome", outcomes[i], "status", p.r.status, "err", p.r.err, "attempt", p.j.attempts+1)
	}
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
