package usage

// Meta's status webhooks (API.md "Billing by message"): the handler records
// each verified body in wa_status_inbox with its outbox job; the worker
// rates it here. Per message, once, the first status that carries pricing
// under a message card settles it by Meta's type and category: what the
// send charged is kept, topped up or refunded to the card's price; a
// message the app never reported is charged; a delivered message is owed
// beyond the balance (outstanding). A failed status before any delivered
// or read refunds. Every status counts once per (message id, status).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/tariff"
	"github.com/lunas-id/lunas/task"
	"github.com/lunas-id/lunas/webhook"
	"github.com/lunas-id/lunas/whatsapp"
)

// Flags of wa_statuses that finance reviews.
const (
	FlagUnknownPhoneNumber = "unknown_phone_number" // no account lists metadata.phone_number_id: charged to no one
	FlagUnpriced           = "unpriced"             // Meta charged a category or market no card prices
)

// Flags lists the flags of kept statuses, for validating a filter.
func Flags() []string { return []string{FlagUnknownPhoneNumber, FlagUnpriced} }

// FlaggedStatus is a kept status finance reviews: of a phone-number id no
// account lists, or priced by Meta where no card prices it.
type FlaggedStatus struct {
	Seq           int64     `json:"-"`
	MessageID     string    `json:"message_id"`
	Status        string    `json:"status"`
	PhoneNumberID string    `json:"phone_number_id"`
	AccountID     *string   `json:"account_id"`
	RecipientID   string    `json:"recipient_id"`
	At            time.Time `json:"-"`
	PricingType   *string   `json:"pricing_type"`
	Category      *string   `json:"category"`
	Flag          string    `json:"flag"`
}

// FlaggedStatuses lists flagged statuses newest first: of flag ("" for
// every flag), below cursor seq before (0: from the newest).
func (s *Service) FlaggedStatuses(ctx context.Context, flag string, before int64, limit int) ([]FlaggedStatus, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, message_id, status, phone_number_id, account_id, recipient_id, at, pricing_type, category, flag
		FROM wa_statuses WHERE flag IS NOT NULL AND ($1 = '' OR flag = $1) AND seq < $2 ORDER BY seq DESC LIMIT $3`, flag, before, limit)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FlaggedStatus, error) {
		var f FlaggedStatus
		err := r.Scan(&f.Seq, &f.MessageID, &f.Status, &f.PhoneNumberID, &f.AccountID, &f.RecipientID, &f.At, &f.PricingType, &f.Category, &f.Flag)
		return f, err
	})
	return out, store.Unavailable(err)
}

// RecordStatuses stores a verified status webhook body in the inbox
// together with the job that rates it, in one transaction, and returns the
// inbox id. Nothing is rated here: the request is answered once this
// commits.
func (s *Service) RecordStatuses(ctx context.Context, body []byte) (int64, error) {
	var id int64
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO wa_status_inbox (body, received_at) VALUES ($1, $2) RETURNING id`, body, s.clock.Now()).Scan(&id); err != nil {
			return err
		}
		return outbox.Enqueue(ctx, tx, task.RateStatuses(id))
	})
	return id, store.Unavailable(err)
}

// RateInbox rates inbox body id (the worker's task; outboxID is its outbox
// row, marked done with the body). Running it again changes nothing.
func (s *Service) RateInbox(ctx context.Context, id int64, outboxID string) error {
	var body []byte
	var done bool
	err := s.pool.QueryRow(ctx, `SELECT body, processed_at IS NOT NULL FROM wa_status_inbox WHERE id = $1`, id).Scan(&body, &done)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("usage: status inbox %d not found", id)
	}
	if err != nil {
		return store.Unavailable(err)
	}
	if !done {
		sts, err := whatsapp.Parse(body)
		outcome := ""
		if err != nil {
			// Verified but unreadable: kept for a fixed parser, nothing rated.
			outcome = "unreadable: " + err.Error()
		} else {
			rep, err := s.RateStatuses(ctx, id, sts)
			if err != nil {
				return err
			}
			outcome = rep.String()
		}
		if _, err := s.pool.Exec(ctx, `UPDATE wa_status_inbox SET processed_at = $2, outcome = $3 WHERE id = $1 AND processed_at IS NULL`,
			id, s.clock.Now(), outcome); err != nil {
			return store.Unavailable(err)
		}
	}
	if outboxID != "" {
		return store.Unavailable(outbox.MarkDone(ctx, s.pool, outboxID))
	}
	return nil
}

// RateReport counts what a rating did.
type RateReport struct {
	Statuses, Duplicates, Rated, Refunded, Unknown, Unpriced int
}

func (r RateReport) String() string {
	return fmt.Sprintf("%d statuses: %d rated, %d refunded, %d duplicates, %d of unknown numbers, %d unpriced",
		r.Statuses, r.Rated, r.Refunded, r.Duplicates, r.Unknown, r.Unpriced)
}

// RateStatuses rates parsed statuses of inbox body inboxID: one
// transaction per account the statuses bill (under its row lock, as a
// usage batch), then the statuses of numbers no account lists, kept and
// flagged.
func (s *Service) RateStatuses(ctx context.Context, inboxID int64, sts []whatsapp.Status) (RateReport, error) {
	rep := RateReport{Statuses: len(sts)}
	var phones []string
	for _, st := range sts {
		if !slices.Contains(phones, st.PhoneNumberID) {
			phones = append(phones, st.PhoneNumberID)
		}
	}
	owners, err := account.ByPhoneNumberIDs(ctx, s.pool, phones)
	if err != nil {
		return rep, store.Unavailable(err)
	}
	byAccount := map[string][]whatsapp.Status{}
	var unknown []whatsapp.Status
	for _, st := range sts {
		if a, ok := owners[st.PhoneNumberID]; ok {
			byAccount[a] = append(byAccount[a], st)
		} else {
			unknown = append(unknown, st)
		}
	}
	accounts := make([]string, 0, len(byAccount))
	for a := range byAccount {
		accounts = append(accounts, a)
	}
	slices.Sort(accounts)
	for _, a := range accounts {
		if err := s.rateAccount(ctx, inboxID, a, byAccount[a], &rep); err != nil {
			return rep, err
		}
	}
	if len(unknown) > 0 {
		err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			n, err := keepStatuses(ctx, tx, inboxID, "", unknown, nil, FlagUnknownPhoneNumber)
			rep.Unknown = n
			return err
		})
		if err != nil {
			return rep, store.Unavailable(err)
		}
	}
	return rep, nil
}

// keepStatuses records statuses once per (message id, status); flags
// marks some of them (by index), flag all of them when not "". It returns
// how many were new.
func keepStatuses(ctx context.Context, tx pgx.Tx, inboxID int64, accountID string, sts []whatsapp.Status, flags map[int]string, flag string) (int, error) {
	n := len(sts)
	ids, states, phones, rcpts, types, cats := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]*string, n), make([]*string, n)
	fl := make([]*string, n)
	ats := make([]time.Time, n)
	for i, st := range sts {
		ids[i], states[i], phones[i], rcpts[i], ats[i] = st.MessageID, string(st.Status), st.PhoneNumberID, st.RecipientID, st.Timestamp
		if st.Pricing != nil {
			t, c := string(st.Pricing.Type), string(st.Pricing.Category)
			types[i], cats[i] = &t, &c
		}
		if f, ok := flags[i]; ok {
			fl[i] = &f
		} else if flag != "" {
			fl[i] = &flag
		}
	}
	tag, err := tx.Exec(ctx, `INSERT INTO wa_statuses (message_id, status, phone_number_id, account_id, recipient_id, at, pricing_type, category, inbox_id, flag)
		SELECT i, s, p, nullif($1, ''), r, a, t, c, $2, f FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[], $9::text[], $10::text[]) x(i, s, p, r, a, t, c, f)
		ON CONFLICT (message_id, status) DO NOTHING`, accountID, inboxID, ids, states, phones, rcpts, ats, types, cats, fl)
	return int(tag.RowsAffected()), err
}

// rateAccount rates one account's statuses of a body in one transaction.
func (s *Service) rateAccount(ctx context.Context, inboxID int64, accountID string, sts []whatsapp.Status, rep *RateReport) error {
	var alerts []string
	var r RateReport
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		r, alerts = RateReport{}, nil
		now := s.clock.Now()
		before, st, err := ledger.Lock(ctx, tx, accountID)
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(sts))
		for _, x := range sts {
			ids = append(ids, x.MessageID)
		}
		// What came before: the statuses seen of these messages (the
		// dedupe, and whether one was delivered or read).
		seen := map[string]bool{}
		billable := map[string]bool{}
		rows, err := tx.Query(ctx, `SELECT message_id, status FROM wa_statuses WHERE message_id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		var mid, state string
		if _, err := pgx.ForEachRow(rows, []any{&mid, &state}, func() error {
			seen[mid+":"+state] = true
			if state == string(whatsapp.Delivered) || state == string(whatsapp.Read) {
				billable[mid] = true
			}
			return nil
		}); err != nil {
			return err
		}
		var fresh []whatsapp.Status
		for _, x := range sts {
			k := whatsapp.DedupeKey(x)
			if seen[k] {
				r.Duplicates++
				continue
			}
			seen[k] = true
			fresh = append(fresh, x)
		}
		if len(fresh) == 0 {
			return nil
		}
		e, err := s.loadForStatuses(ctx, tx, accountID, fresh)
		if err != nil {
			return err
		}
		e.wa, e.muv, e.out = before.WABalance, before.MUV, before.Outstanding
		flags := map[int]string{}
		for i, x := range fresh {
			switch f := e.status(x, billable, &r); f {
			case "":
			default:
				flags[i] = f
				r.Unpriced++
			}
		}
		if _, err := keepStatuses(ctx, tx, inboxID, accountID, fresh, flags, ""); err != nil {
			return err
		}
		after, err := s.write(ctx, tx, accountID, now, e)
		if err != nil {
			return err
		}
		if grew := after.Outstanding - before.Outstanding; grew > 0 {
			// The app learns that its customer now owes (API.md: usage.owed).
			if err := webhook.EmitJSON(ctx, tx, webhook.UsageOwed, accountID, OwedEvent{AccountID: accountID, Owed: grew,
				Outstanding: after.Outstanding, At: now.Format(time.RFC3339)}, now); err != nil {
				return err
			}
		}
		alerts, err = s.checkAlerts(ctx, tx, accountID, now, before, after, st)
		return err
	})
	if err != nil {
		return unavailable(err)
	}
	for _, b := range alerts {
		s.Alerted(b)
	}
	rep.Duplicates += r.Duplicates
	rep.Rated += r.Rated
	rep.Refunded += r.Refunded
	rep.Unpriced += r.Unpriced
	return nil
}

// loadForStatuses reads the account's cards, the usage events of the
// statuses' messages (send, reply, status, failed) and the tier counts of
// their months.
func (s *Service) loadForStatuses(ctx context.Context, tx pgx.Tx, accountID string, sts []whatsapp.Status) (*engine, error) {
	e := s.newEngine()
	if err := e.loadCards(ctx, tx, accountID); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(sts))
	var lo, hi time.Time
	for _, x := range sts {
		ids = append(ids, x.MessageID)
		if lo.IsZero() || x.Timestamp.Before(lo) {
			lo = x.Timestamp
		}
		if x.Timestamp.After(hi) {
			hi = x.Timestamp
		}
	}
	rows, err := tx.Query(ctx, `SELECT `+msgCols+` FROM unnest($2::text[]) k(event_id), unnest(ARRAY['send', 'reply', 'status', 'failed']) m(kind)
		CROSS JOIN LATERAL (SELECT * FROM usage_events WHERE account_id = $1 AND event_id = k.event_id AND kind = m.kind OFFSET 0) u`, accountID, ids)
	if err != nil {
		return nil, err
	}
	ms, err := scanMsgs(rows)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		e.stored[key(m.eventID, m.kind)] = m
		e.index(m)
	}
	// A send may be priced in an earlier month than its status: its tier
	// comes back to that month.
	for _, m := range ms {
		if m.at.Before(lo) {
			lo = m.at
		}
	}
	return e, e.loadTiers(ctx, tx, accountID, lo, hi)
}

// status applies one new status; it returns a flag for finance, or "".
func (e *engine) status(x whatsapp.Status, billable map[string]bool, r *RateReport) string {
	id := x.MessageID
	switch x.Status {
	case whatsapp.Failed:
		if !billable[id] && e.metaFailed(x) {
			r.Refunded++
		}
		return ""
	case whatsapp.Delivered, whatsapp.Read:
		billable[id] = true
	}
	if x.Pricing == nil {
		return ""
	}
	if _, done := e.stored[key(id, KindStatus)]; done {
		return "" // settled by an earlier status of the message
	}
	card := e.cards.at(e.list, x.Timestamp)
	if card.Model != tariff.ModelMessage {
		return "" // a conversation card: the app's events are the bill
	}
	// The app's standing charge for the message, if any.
	var prior *msg
	for _, m := range e.byID[id] {
		if (m.kind == KindSend || m.kind == KindReply) && m.outcome == Charged && m.refunded == 0 {
			prior = m
		}
	}
	rcpt := "+" + x.RecipientID
	m := &msg{eventID: id, kind: KindStatus, recipient: rcpt, category: string(x.Pricing.Category), at: x.Timestamp.UTC().Truncate(time.Microsecond),
		cardID: cardID(card), pricingType: string(x.Pricing.Type)}
	var price int64
	if x.Pricing.Charged() {
		p, market, ok := e.price(card, x.Pricing.Category, rcpt, m.at)
		if !ok || !tariff.Category(m.category).For(tariff.ModelMessage) {
			return FlagUnpriced
		}
		price, m.market, m.pricingType = p, market, TypeRegular
		m.outcome, m.amount = Charged, price
	} else {
		if m.pricingType == "" {
			m.pricingType = "free" // an old webhook with billable false and no type
		}
		m.outcome = Free
		if !tariff.Category(m.category).For(tariff.ModelMessage) {
			m.category = "" // a free category no card knows (group_*, referral_conversion): kept on the status row only
		}
	}
	e.cards.used[card.ID] = true
	var already int64
	if prior != nil {
		already = prior.amount
		e.uncount(prior)
		prior.refunded = prior.amount
		if prior.seq != 0 {
			e.refundedOld = append(e.refundedOld, prior)
		}
	}
	memo := fmt.Sprintf("Meta: %s %s message %s", m.pricingType, m.category, rcpt)
	switch d := price - already; {
	case d > 0:
		m.owed = e.owe(m, d, memo)
	case d < 0:
		e.give(ledger.BalanceWA, -d)
		e.postings = append(e.postings, posting{balance: ledger.BalanceWA, kind: "usage_refund", amount: -d, event: m, memo: memo + " (true-up)"})
	}
	if m.outcome == Charged {
		e.count(m)
	}
	if already > 0 {
		m.reason = fmt.Sprintf("the %s charge of %d was trued up to Meta's pricing", prior.kind, already)
	}
	e.fresh = append(e.fresh, m)
	e.stored[key(id, KindStatus)] = m
	e.index(m)
	r.Rated++
	return ""
}

// metaFailed refunds the standing charge of a message Meta reports failed
// before any delivered or read. It reports whether it refunded.
func (e *engine) metaFailed(x whatsapp.Status) bool {
	id := x.MessageID
	var orig *msg
	for _, m := range e.byID[id] {
		if m.outcome == Charged && m.refunded == 0 && (m.kind == KindStatus || orig == nil) {
			orig = m
		}
	}
	if orig == nil {
		return false
	}
	if _, done := e.stored[key(id, KindFailed)]; done {
		return false
	}
	m := &msg{eventID: id, kind: KindFailed, recipient: orig.recipient, category: orig.category, at: x.Timestamp.UTC().Truncate(time.Microsecond),
		outcome: Refunded, amount: orig.amount, reason: "Meta reported the message failed before delivery"}
	e.uncount(orig)
	orig.refunded = orig.amount
	if orig.seq != 0 {
		e.refundedOld = append(e.refundedOld, orig)
	}
	e.giveBack(m, orig.amount, orig.owed, "refund of "+orig.kind+" "+id+": Meta reported it failed")
	e.fresh = append(e.fresh, m)
	e.stored[key(id, KindFailed)] = m
	e.failedIDs[id] = true
	return true
}
