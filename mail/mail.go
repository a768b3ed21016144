// Package mail sends lunas's mail — billing info at confirm, payment
// confirmation at paid (PDF attached), rejection of a transfer proof, refund
// notices, payment instructions, reminders and low-balance alerts — to the
// order's requester (or the account's alert address) and to nobody else:
// one To address, no Cc, no Bcc.
//
// It owns the mails table. Each mail is a row (queued → sent | failed) with
// a Message-ID fixed when it was queued, recorded by Queue, QueueAs or
// QueueLowBalance in the transaction of the change it tells of, together
// with its outbox job; the worker's mail:send task calls Service.Send,
// which does nothing for a mail already sent, so a retry never sends a mail
// the SMTP server accepted. SMTP uses github.com/wneessen/go-mail, whose timeout
// covers dial and every read and write (jordan-wright/email's pool timeout
// does not cover a server that stalls after the greeting).
package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	gomail "github.com/wneessen/go-mail"

	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/paylink"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/templates"
)

// Transport is an SMTP server reached through LUNAS_SMTP_URL:
// smtp://[user:pass@]host:port (STARTTLS when offered) or smtps:// (implicit TLS).
type Transport struct {
	host     string
	opts     []gomail.Option
	redacted string
	idle     chan *gomail.Client // open sessions kept for reuse
}

// NewTransport parses an SMTP URL. timeout bounds dialing and every SMTP
// command, so a server that accepts and then stalls cannot hang a worker.
func NewTransport(raw string, timeout time.Duration) (*Transport, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP URL: %w", err)
	}
	host, portStr := u.Hostname(), u.Port()
	// WithoutRset: no RSET after a delivered message. The server's 250 to
	// DATA ends the transaction (RFC 5321 §4.1.1.4), and an RSET there
	// would put one more round trip between that 250 and the record of the
	// mail as sent: the window in which a crash sends the mail twice. A
	// reused session is checked with NOOP before its next message instead.
	opts := []gomail.Option{gomail.WithTimeout(timeout), gomail.WithHELO("localhost"), gomail.WithoutRset()}
	switch u.Scheme {
	case "smtp":
		if portStr == "" {
			portStr = "25"
		}
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case "smtps":
		if portStr == "" {
			portStr = "465"
		}
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("mail: SMTP URL scheme %q is not smtp or smtps", u.Scheme)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP port %q: %w", portStr, err)
	}
	opts = append(opts, gomail.WithPort(port))
	if u.User != nil {
		pass, _ := u.User.Password()
		// PLAIN sends the password in clear text, so go-mail allows it only
		// after STARTTLS or to localhost; with implicit TLS let it pick.
		mech := gomail.SMTPAuthPlain
		if u.Scheme == "smtps" {
			mech = gomail.SMTPAuthAutoDiscover
		}
		opts = append(opts, gomail.WithSMTPAuth(mech),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	return &Transport{host: host, opts: opts, redacted: u.Redacted(), idle: make(chan *gomail.Client, 8)}, nil
}

// Send delivers m, over an open session when one is idle (go-mail checks
// it with NOOP and renews its deadline first), else over a new one. Opening
// a session per mail cost a TCP and SMTP handshake each; under load that was
// a large share of the mail task's time.
//
// The server's 250 to the end of DATA is what counts: once it came, the mail
// is sent, whatever happens to the session after; Send returns at once,
// without the RSET go-mail would send (WithoutRset), so the caller records
// the mail right after the 250. A session that broke after delivering
// fails its NOOP check at the next mail, which then opens a fresh one; a
// session that saw any other error is closed, never reused. If go-mail
// still reports an error after delivery (m.IsDelivered()), the mail is
// sent and Send returns nil.
func (t *Transport) Send(ctx context.Context, m *gomail.Msg) error {
	select {
	case c := <-t.idle:
		err := c.Send(m)
		if err == nil {
			t.keep(c)
			return nil
		}
		_ = c.Close()
		if m.IsDelivered() {
			return nil
		}
		var se *gomail.SendError
		if !errors.Is(err, gomail.ErrNoActiveConnection) && !(errors.As(err, &se) && se.Reason == gomail.ErrConnCheck) {
			return fmt.Errorf("mail: send via %s: %w", t.redacted, err)
		}
		// The idle session had gone stale (its NOOP check failed) before
		// anything was sent: drop every idle session, they are as old, and
		// open a new one.
		t.Close()
	default:
	}
	c, err := gomail.NewClient(t.host, t.opts...)
	if err != nil {
		return fmt.Errorf("mail: client for %s: %w", t.redacted, err)
	}
	if err := c.DialWithContext(ctx); err != nil {
		return fmt.Errorf("mail: send via %s: %w", t.redacted, err)
	}
	if err := c.Send(m); err != nil {
		_ = c.Close()
		if m.IsDelivered() {
			return nil
		}
		return fmt.Errorf("mail: send via %s: %w", t.redacted, err)
	}
	t.keep(c)
	return nil
}

func (t *Transport) keep(c *gomail.Client) {
	select {
	case t.idle <- c:
	default:
		_ = c.Close()
	}
}

// Close ends the idle sessions.
func (t *Transport) Close() {
	for {
		select {
		case c := <-t.idle:
			_ = c.Close()
		default:
			return
		}
	}
}

// Status is where a mail is: queued until the SMTP server accepted it
// (sent) or refused it for good (failed).
type Status string

// Mail statuses.
const (
	StatusQueued Status = "queued"
	StatusSent   Status = "sent"
	StatusFailed Status = "failed"
)

// Statuses lists every mail status.
func Statuses() []Status { return []Status{StatusQueued, StatusSent, StatusFailed} }

// Service renders and sends queued mails.
type Service struct {
	pool      *store.DB
	clock     clock.Clock
	docs      *proforma.Documents
	tpl       *templates.Set
	transport *Transport
	signer    proforma.Signer
	links     paylink.Links // the pay page of an unpaid order
	from      string
	publicURL string
	loc       *time.Location
	log       *slog.Logger
	// Result is called after each send attempt with "sent" or "failed".
	Result func(outcome string)
}

// Options configures a Service.
type Options struct {
	Pool      *store.DB
	Clock     clock.Clock // the service clock: signed links expire on it
	Documents *proforma.Documents
	Templates *templates.Set
	Transport *Transport
	Signer    proforma.Signer
	Links     paylink.Links // pay_url in the mails about unpaid orders
	From      string
	PublicURL string
	Location  *time.Location
	Logger    *slog.Logger
}

// New returns a mail service.
func New(o Options) *Service {
	return &Service{pool: o.Pool, clock: o.Clock, docs: o.Documents, tpl: o.Templates, transport: o.Transport, signer: o.Signer, links: o.Links,
		from: o.From, publicURL: o.PublicURL, loc: o.Location, log: o.Logger, Result: func(string) {}}
}

// leaseTime is how long a sender holds a mail: several SMTP timeouts, plus
// time to record the outcome through a database restart.
const leaseTime = 2 * time.Minute

// refusedForGood reports whether the SMTP server refused the recipient
// with a 5xx answer, which no retry changes. A connection that broke
// during RCPT TO (EOF, reset, a closed server) is not an answer: go-mail
// reports it with the same reason and no code, and it is retried.
func refusedForGood(err error) bool {
	var se *gomail.SendError
	return errors.As(err, &se) && se.Reason == gomail.ErrSMTPRcptTo && se.ErrorCode() >= 500 && se.ErrorCode() < 600
}

// ErrPermanent marks a mail the SMTP server refused for good (5xx): the
// worker archives the task instead of retrying.
var ErrPermanent = errors.New("mail: permanently refused")

type row struct {
	id, orderID, kind, to, locale, messageID string
	status                                   Status
	reason                                   *string
}

// billingLead bounds how long a payment-instruction mail waits for the
// billing mail it follows.
const billingLead = 10 * time.Minute

// billingQueued reports whether the order's billing mail is still queued
// and younger than billingLead (on the service clock).
func (s *Service) billingQueued(ctx context.Context, orderID string) (bool, error) {
	var queued bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mails WHERE order_id = $1 AND kind = $2 AND status = $3 AND created_at > $4)`,
		orderID, KindBilling, StatusQueued, s.clock.Now().Add(-billingLead)).Scan(&queued)
	return queued, err
}

// Send sends one queued mail and records the outcome. A mail already sent
// is not sent again.
func (s *Service) Send(ctx context.Context, mailID, outboxID string) error {
	var r row
	err := s.pool.QueryRow(ctx, `SELECT id, coalesce(order_id, ''), kind, to_addr, locale, status, message_id, reason FROM mails WHERE id = $1`, mailID).
		Scan(&r.id, &r.orderID, &r.kind, &r.to, &r.locale, &r.status, &r.messageID, &r.reason)
	if errors.Is(err, pgx.ErrNoRows) {
		// The outbox row and the mail row commit together, so a task for a
		// mail that does not exist came from another deployment's database
		// (a shared Redis database) or from a hand edit: archive it loudly.
		return fmt.Errorf("%w: mail %s does not exist in this database", ErrPermanent, mailID)
	}
	if err != nil {
		return store.Unavailable(err)
	}
	if r.status != StatusQueued {
		return outbox.MarkDone(ctx, s.pool, outboxID)
	}
	if r.kind == KindInstructions {
		// How to pay follows the bill it pays: the billing mail waits for
		// its UNPAID PDF, so an attempt opened right after the confirm
		// would otherwise overtake it. Wait (a retry) while the billing
		// mail is queued, for at most billingLead; a billing mail that
		// failed for good does not hold the instructions back.
		waiting, err := s.billingQueued(ctx, r.orderID)
		if err != nil {
			return store.Unavailable(err)
		}
		if waiting {
			return fmt.Errorf("mail %s waits for the order's billing mail, which it follows; retrying later", r.id)
		}
	}
	// Take the sending lease; it outlasts the SMTP timeout by far.
	// The lease runs on the database's clock: it is about real time (an
	// SMTP exchange), which a test clock moved by days must not end.
	tag, err := s.pool.Exec(ctx, `UPDATE mails SET lease_until = now() + make_interval(secs => $2)
		WHERE id = $1 AND status = $3 AND (lease_until IS NULL OR lease_until < now())`, r.id, leaseTime.Seconds(), StatusQueued)
	if err != nil {
		return store.Unavailable(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("mail %s is being sent by another worker (or was just sent); retrying later", r.id)
	}
	release := func() {
		_, _ = s.pool.Exec(context.WithoutCancel(ctx), `UPDATE mails SET lease_until = NULL WHERE id = $1 AND status = $2`, r.id, StatusQueued)
	}
	msg, doc, err := s.build(ctx, r)
	if err != nil {
		release()
		return err
	}
	// Hold the connection the outcome is recorded on before talking to the
	// SMTP server, so that between the server accepting the mail and the
	// record there is only one short local statement: no wait for a pool
	// slot, no rendering, no other round trip.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		release()
		return store.Unavailable(err)
	}
	defer conn.Release()
	// The mail is sent at the service clock's now when the server's 250
	// comes: its now before the exchange plus the wall time the exchange
	// took, so that nothing (a test clock reads its offset from the
	// database) stands between the 250 and the record.
	began, wallBegan := s.clock.Now(), time.Now()
	if err := s.transport.Send(ctx, msg); err != nil {
		permanent := refusedForGood(err)
		status := StatusQueued
		if permanent {
			status = StatusFailed
		}
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), `UPDATE mails SET attempts = attempts + 1, last_error = $2, status = $3, lease_until = NULL WHERE id = $1 AND status = $4`,
			r.id, truncate(err.Error(), 500), status, StatusQueued); uerr != nil {
			s.log.Error("record mail failure", "mail_id", r.id, "err", uerr)
		}
		s.Result("failed")
		if permanent {
			_ = outbox.MarkDone(context.WithoutCancel(ctx), conn, outboxID)
			return fmt.Errorf("%w: %v", ErrPermanent, err)
		}
		return err
	}
	// Accepted by the server. From here the mail must be recorded as sent,
	// whatever happens to the task's context or to PostgreSQL (a restart
	// takes seconds): a mail accepted but not recorded would go out again
	// once the lease ends. The record is one batch (one commit) on the
	// connection held above; if that fails, retry on fresh connections well
	// inside the lease.
	wctx := context.WithoutCancel(ctx)
	sentAt := began.Add(time.Since(wallBegan))
	err = recordSent(wctx, conn, r.id, outboxID, sentAt, doc)
	backoff := 100 * time.Millisecond
	for deadline := time.Now().Add(leaseTime / 2); err != nil; err = recordSent(wctx, s.pool, r.id, outboxID, sentAt, doc) {
		if time.Now().After(deadline) {
			s.log.Error("mail accepted by SMTP but not recorded; it stays leased so it is not sent again before the lease ends",
				"mail_id", r.id, "err", err)
			return err
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
	s.Result("sent")
	s.log.Info("mail sent", "mail_id", r.id, "kind", r.kind, "order_id", r.orderID)
	return nil
}

// recordSent marks a mail sent at sentAt (the service clock's now when the
// SMTP server accepted it) and its outbox job done in one round trip (a
// batch: one implicit transaction, so one commit).
func recordSent(ctx context.Context, q batcher, mailID, outboxID string, sentAt time.Time, doc *proforma.Unstored) error {
	b := &pgx.Batch{}
	b.Queue(`UPDATE mails SET status = $2, sent_at = $3, attempts = attempts + 1, last_error = NULL, lease_until = NULL,
		data = CASE WHEN kind = $4 THEN NULL ELSE data END
		WHERE id = $1`, mailID, StatusSent, sentAt, KindPeopleLink)
	outbox.MarkDoneIn(b, outboxID)
	proforma.StoreIn(b, doc) // the attachment, rendered by build and not stored yet
	return q.SendBatch(ctx, b).Close()
}

// batcher is what both the pool and a held connection provide.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// build renders a mail row into a message addressed to its one recipient.
// doc is the proforma it attaches when that was rendered for it and not
// stored yet: Send stores it with the record of the mail sent.
func (s *Service) build(ctx context.Context, r row) (msg *gomail.Msg, doc *proforma.Unstored, err error) {
	if r.kind == KindLowBalance {
		msg, err = s.buildAccountMail(ctx, r)
		return msg, nil, err
	}
	if r.kind == KindPeopleLink {
		msg, err = s.buildPeopleMail(ctx, r)
		return msg, nil, err
	}
	o, err := order.Get(ctx, s.pool, r.orderID)
	if err != nil {
		return nil, nil, err
	}
	acct, err := account.Get(ctx, s.pool, o.AccountID)
	if err != nil {
		return nil, nil, err
	}
	d := s.data(o, acct.Name, r)
	if r.kind == KindInstructions {
		// The mail's reason is the attempt whose instructions it carries.
		d.Reason, d.Instructions = "", nil
		for _, a := range o.Payments {
			if a.ID == derefEmpty(r.reason) {
				if line := proforma.AttemptInstructions(o, a); line != "" {
					d.Instructions = []string{line}
				}
				d.Total = proforma.Rupiah(a.Amount)
				if a.ExpiresAt != nil {
					d.ExpiresAt = proforma.ValidUntil(*a.ExpiresAt, s.loc)
				}
			}
		}
		if len(d.Instructions) == 0 {
			return nil, nil, fmt.Errorf("%w: attempt %s of %s has no instructions", ErrPermanent, derefEmpty(r.reason), o.ID)
		}
	}
	if r.kind == KindReminder {
		if err := s.reminderData(ctx, r.id, &d); err != nil {
			return nil, nil, err
		}
	}
	if r.kind == KindProofReceived {
		if err := s.proofData(ctx, r.id, &d); err != nil {
			return nil, nil, err
		}
	}
	if r.kind == KindRefund {
		// The mail's reason is the reversal it tells of.
		var amount, total int64
		var kind string
		if err := s.pool.QueryRow(ctx, `SELECT amount, gateway_total, kind FROM reversals WHERE id = $1`, derefEmpty(r.reason)).Scan(&amount, &total, &kind); err != nil {
			return nil, nil, fmt.Errorf("mail: reversal of %s: %w", r.id, err)
		}
		d.Reason, d.Refunded, d.RefundedTotal, d.RefundKind = "", proforma.Rupiah(amount), proforma.Rupiah(total), kind
	}
	// The one and only recipient: the requester recorded on the order.
	m, err := s.message(r, d)
	if err != nil {
		return nil, nil, err
	}
	// The confirmation carries the PAID proforma; a subscription invoice's
	// billing mail (at issue, or sent again in bulk) the UNPAID one.
	if kind := attachment(r.kind, o); kind != "" {
		pdf, u, err := s.docs.Load(ctx, o.ID, o, kind)
		if err != nil {
			return nil, nil, err
		}
		doc = u
		if err := m.AttachReader(deref(o.InvoiceNumber)+".pdf", bytes.NewReader(pdf), gomail.WithFileContentType(gomail.ContentType("application/pdf"))); err != nil {
			return nil, nil, err
		}
	}
	return m, doc, nil
}

// message renders a mail row's templates with d into a message addressed to
// the row's one recipient, with the Message-ID fixed when it was recorded
// (so a retry sends the same message). Order mails and account mails
// (account.go) are built with it.
func (s *Service) message(r row, d templates.Data) (*gomail.Msg, error) {
	subject, text, html, err := s.tpl.Render(r.kind, r.locale, d)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	m := gomail.NewMsg()
	if err := m.From(s.from); err != nil {
		return nil, fmt.Errorf("%w: from: %v", ErrPermanent, err)
	}
	if err := m.To(r.to); err != nil {
		return nil, fmt.Errorf("%w: to: %v", ErrPermanent, err)
	}
	m.Subject(subject)
	m.SetMessageIDWithValue(strings.Trim(r.messageID, "<>"))
	m.SetDate()
	m.SetBodyString(gomail.TypeTextPlain, text)
	m.AddAlternativeString(gomail.TypeTextHTML, html)
	return m, nil
}

func deref(p *string) string {
	if p == nil {
		return "invoice"
	}
	return *p
}

func (s *Service) data(o *order.Order, accountName string, r row) templates.Data {
	d := templates.Data{
		RequesterName: o.Requester.Name, AccountName: accountName, InvoiceNumber: deref(o.InvoiceNumber),
		Subtotal: proforma.Rupiah(o.Subtotal), VAT: proforma.Rupiah(o.VAT), Total: proforma.Rupiah(o.Total),
		Instructions: proforma.Instructions(o), Reason: derefEmpty(r.reason),
	}
	if o.Withholding != nil {
		// The buyer withholds PPh 23: the mail asks for what it pays.
		d.Total = proforma.Rupiah(o.Payable)
	}
	if o.ExpiresAt != nil {
		d.ExpiresAt = proforma.ValidUntil(*o.ExpiresAt, s.loc)
	}
	// Signed by the seller the invoice is issued in (LUNAS_SELLER_NAME),
	// not by the product: the customer buys from the seller.
	d.SellerName = s.docs.SellerName()
	if d.SellerName == "" {
		if a, err := gomailAddrName(s.from); err == nil && a != "" {
			d.SellerName = a
		}
	}
	for _, it := range o.Items {
		d.Lines = append(d.Lines, templates.Line{Description: proforma.LineName(it, o.Locale), Quantity: proforma.Number(it.Quantity), Unit: proforma.UnitName(it.Unit, o.Locale), Amount: proforma.Rupiah(it.Amount)})
	}
	subscriptionData(o, &d)
	if o.PaidAt != nil {
		d.PaidAt = proforma.LocalTime(*o.PaidAt, s.loc)
	}
	for _, a := range o.Payments {
		if o.PaidAttemptID != nil && a.ID == *o.PaidAttemptID {
			d.Method = proforma.LocalMethodName(a.Method, o.Locale)
			d.Total = proforma.Rupiah(a.Amount)
			if a.Fee > 0 {
				d.CardFee = proforma.Rupiah(a.Fee)
			}
		}
	}
	d.PDFLink = s.publicURL + "/v1/orders/" + o.ID + "/proforma.pdf?" + s.signer.For(o.ID, 30*24*time.Hour)
	if o.InvoiceNumber != nil && o.PaidAt == nil && !s.links.IsZero() {
		d.PayURL = s.links.PayURL(o.ID)
	}
	return d
}

func derefEmpty(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func gomailAddrName(from string) (string, error) {
	a, err := netmail.ParseAddress(from)
	if err != nil {
		return "", err
	}
	return a.Name, nil
}
