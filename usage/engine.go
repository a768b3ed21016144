package usage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/tariff"
)

// msg is a usage event, stored earlier or new in this batch, as the rules
// see it.
type msg struct {
	seq                                         int64
	eventID, kind, recipient, category, visitor string
	at                                          time.Time
	outcome                                     string
	amount, refunded                            int64
	windowEnd                                   *time.Time
	reason                                      string
	// Under a message card: the market and card that priced it, Meta's
	// pricing type (regular, free_customer_service, free_entry_point; ""
	// under a conversation card), what a delivered message owed beyond the
	// balance, and the end of the entry-point window an inbound opened.
	market, cardID, pricingType string
	owed                        int64
	entryEnd                    *time.Time
	entryPoint                  bool
}

// posting is a debit or refund waiting for its event's seq.
type posting struct {
	balance, kind, memo string
	amount              int64
	event               *msg
}

// engine applies the rules of API.md to one batch, in memory, over the
// account's relevant history (loaded under the account's row lock). It
// decides; write stores what it decided.
type engine struct {
	prices    tariff.Table
	loc       *time.Location
	cards     *cardSet         // the account's price list's cards, LUNAS_WA_PRICES as the fallback
	list      string           // the account's price list
	tiers     map[string]int64 // month|category|market → billed messages (wa_tier_counts)
	tierDelta map[string]int64
	out       int64 // outstanding, for refunds of owed charges

	stored      map[string]*msg   // (id, kind) → stored earlier: a replay
	byRecipient map[string][]*msg // recipient → messages near this batch's times
	byID        map[string][]*msg // id → sends and replies with that id
	failedIDs   map[string]bool   // ids of sends and replies reported failed
	visitors    map[string]bool   // visitor + month → seen this month

	wa, muv         int64 // what is left to spend
	unlimited       bool  // all_or_nothing's second run: learn what it needs
	needWA, needMUV int64
	blocked         int

	fresh       []*msg // new events to store
	refundedOld []*msg // stored sends and replies this batch refunded
	postings    []posting
}

func key(id, kind string) string { return id + "\x00" + kind }

// load reads what the batch's rules depend on: earlier results of the same
// (id, kind), the messages of its recipients within 24 h of its times, the
// sends and replies its failed events name, and its visitors' months. All
// in one round trip.
func (s *Service) load(ctx context.Context, tx pgx.Tx, accountID string, evs []event) (*engine, error) {
	e := s.newEngine()
	if err := e.loadCards(ctx, tx, accountID); err != nil {
		return nil, err
	}
	ids, kinds := make([]string, len(evs)), make([]string, len(evs))
	var recipients, failed, visitors []string
	var lo, hi, vlo, vhi time.Time
	seenR := map[string]bool{}
	for i, ev := range evs {
		ids[i], kinds[i] = ev.id, ev.kind
		switch ev.kind {
		case KindVisitor:
			visitors = append(visitors, ev.visitor)
			m0, m1 := e.month(ev.at)
			if vlo.IsZero() || m0.Before(vlo) {
				vlo = m0
			}
			if m1.After(vhi) {
				vhi = m1
			}
			continue
		case KindFailed:
			failed = append(failed, ev.id)
		}
		if ev.recipient != "" && !seenR[ev.recipient] {
			seenR[ev.recipient] = true
			recipients = append(recipients, ev.recipient)
		}
		if lo.IsZero() || ev.at.Before(lo) {
			lo = ev.at
		}
		if ev.at.After(hi) {
			hi = ev.at
		}
	}
	// Every look-up starts from the batch's keys and probes an index per
	// key (LATERAL), so its cost follows the batch, not the account's
	// history: a plain IN (…) or = ANY(…) let the planner scan a hot
	// account's whole history (every broadcast row has the same at).
	cols, scan := msgCols, scanMsgs
	b := &pgx.Batch{}
	b.Queue(`SELECT `+cols+` FROM unnest($2::text[], $3::text[]) k(event_id, kind)
		CROSS JOIN LATERAL (SELECT * FROM usage_events WHERE account_id = $1 AND event_id = k.event_id AND kind = k.kind OFFSET 0) u`, accountID, ids, kinds)
	// Under a message card, Meta's status may settle a message before the
	// app reports its send: the sends' and replies' status events too.
	var settled []string
	if e.cards.hasMessage() {
		for _, ev := range evs {
			if ev.kind == KindSend || ev.kind == KindReply {
				settled = append(settled, ev.id)
			}
		}
	}
	originals := len(failed) > 0 || len(settled) > 0
	if originals {
		// The sends and replies that failed events name, wherever their
		// time; their recipients' messages come with the next query.
		b.Queue(`SELECT `+cols+` FROM (SELECT k.event_id, m.kind FROM unnest($2::text[]) k(event_id), unnest(ARRAY['send', 'reply', 'status']) m(kind)
			UNION ALL SELECT s.event_id, 'status' FROM unnest($3::text[]) s(event_id)) k
			CROSS JOIN LATERAL (SELECT * FROM usage_events WHERE account_id = $1 AND event_id = k.event_id AND kind = k.kind OFFSET 0) u`, accountID, failed, settled)
	}
	if err := e.runBatch(ctx, tx, b, scan, originals); err != nil {
		return nil, err
	}
	// A failed send's window may reach beyond this batch's times.
	for _, id := range failed {
		for _, m := range e.byID[id] {
			if m.at.Before(lo) {
				lo = m.at
			}
			if m.at.After(hi) {
				hi = m.at
			}
			if !seenR[m.recipient] {
				seenR[m.recipient] = true
				recipients = append(recipients, m.recipient)
			}
		}
	}
	b = &pgx.Batch{}
	if len(recipients) > 0 {
		b.Queue(`SELECT `+cols+` FROM unnest($2::text[]) r(recipient)
			CROSS JOIN LATERAL (SELECT * FROM usage_events WHERE account_id = $1 AND recipient IS NOT NULL AND recipient = r.recipient AND at > $3 AND at < $4 OFFSET 0) u`,
			accountID, recipients, lo.Add(-e.lookback()), hi.Add(Window))
	}
	if len(visitors) > 0 {
		b.Queue(`SELECT `+cols+` FROM unnest($2::text[]) v(visitor)
			CROSS JOIN LATERAL (SELECT * FROM usage_events WHERE account_id = $1 AND visitor IS NOT NULL AND visitor = v.visitor AND at >= $3 AND at < $4 AND outcome = 'charged' OFFSET 0) u`,
			accountID, visitors, vlo, vhi)
	}
	if err := e.loadTiers(ctx, tx, accountID, lo, hi); err != nil {
		return nil, err
	}
	if b.Len() == 0 {
		return e, nil
	}
	res := tx.SendBatch(ctx, b)
	defer func() { _ = res.Close() }() // the error is read by the explicit Close below
	for i := 0; i < b.Len(); i++ {
		rows, err := res.Query()
		if err != nil {
			return nil, err
		}
		ms, err := scan(rows)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			e.remember(m)
		}
	}
	return e, res.Close()
}

// runBatch sends the replay (and failed-original) queries.
func (e *engine) runBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch, scan func(pgx.Rows) ([]*msg, error), originals bool) error {
	res := tx.SendBatch(ctx, b)
	defer func() { _ = res.Close() }() // the error is read by the explicit Close below
	rows, err := res.Query()
	if err != nil {
		return err
	}
	ms, err := scan(rows)
	if err != nil {
		return err
	}
	for _, m := range ms {
		e.stored[key(m.eventID, m.kind)] = m
	}
	if originals {
		rows, err := res.Query()
		if err != nil {
			return err
		}
		ms, err := scan(rows)
		if err != nil {
			return err
		}
		seen := map[int64]bool{}
		for _, m := range ms {
			if !seen[m.seq] {
				seen[m.seq] = true
				e.index(m)
			}
		}
	}
	return res.Close()
}

// remember adds a stored message to the history, once (a failed event's
// original is loaded first and comes again with its recipient's messages).
func (e *engine) remember(m *msg) {
	if m.kind == KindVisitor {
		m0, _ := e.month(m.at)
		e.visitors[m.visitor+"\x00"+m0.Format("2006-01")] = true
		return
	}
	for _, o := range e.byRecipient[m.recipient] {
		if o.seq == m.seq {
			return
		}
	}
	e.index(m)
}

func (e *engine) index(m *msg) {
	e.byRecipient[m.recipient] = append(e.byRecipient[m.recipient], m)
	switch m.kind {
	case KindSend, KindReply, KindStatus:
		e.byID[m.eventID] = append(e.byID[m.eventID], m)
	case KindFailed:
		e.failedIDs[m.eventID] = true
	}
}

// month is the calendar month (LUNAS_TIMEZONE) that t falls in.
func (e *engine) month(t time.Time) (start, end time.Time) {
	l := t.In(e.loc)
	start = time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, e.loc)
	return start.UTC(), start.AddDate(0, 1, 0).UTC()
}

// run applies the events in order and returns their results.
func (e *engine) run(evs []event) []Result {
	out := make([]Result, len(evs))
	for i, ev := range evs {
		out[i] = e.apply(ev)
	}
	return out
}

func (e *engine) apply(ev event) Result {
	k := key(ev.id, ev.kind)
	if m, ok := e.stored[k]; ok {
		r := resultOf(m)
		r.Replayed = true
		return r
	}
	var m *msg
	var r Result
	switch ev.kind {
	case KindSend, KindReply:
		m, r = e.message(ev)
	case KindInbound:
		end := ev.at.Add(Window)
		m = &msg{eventID: ev.id, kind: ev.kind, recipient: ev.recipient, at: ev.at, outcome: Free, windowEnd: &end, entryPoint: ev.entryPoint}
		if ev.entryPoint {
			// The window is as long as the card in force when the user came
			// in says (a conversation card keeps Meta's default for when a
			// message card takes over inside it).
			h := e.cards.at(e.list, ev.at).Free.EntryPointHours
			ee := ev.at.Add(time.Duration(h) * time.Hour)
			m.entryEnd = &ee
		}
	case KindFailed:
		m, r = e.failed(ev)
	case KindVisitor:
		m, r = e.visitor(ev)
	}
	if m == nil {
		return r // blocked or rejected: not kept
	}
	e.fresh = append(e.fresh, m)
	e.stored[k] = m
	if m.kind != KindVisitor {
		e.index(m)
	}
	return resultOf(m)
}

func resultOf(m *msg) Result {
	r := Result{ID: m.eventID, Kind: m.kind, Outcome: m.outcome, Amount: m.amount, WindowEndsAt: m.windowEnd, Reason: m.reason, PricingType: m.pricingType}
	if m.pricingType != "" && m.kind != KindInbound {
		r.WindowEndsAt = nil // a message card opens no conversation window
	}
	if m.entryEnd != nil {
		r.EntryPointEndsAt = m.entryEnd
	}
	return r
}

// message charges a send or a reply: once per (recipient, category) per
// 24 h window from the charging event's time.
func (e *engine) message(ev event) (*msg, Result) {
	r := Result{ID: ev.id, Kind: ev.kind}
	if ev.kind == KindReply && !e.inboundBefore(ev.recipient, ev.at) {
		r.Outcome, r.Reason = Rejected, "no inbound message from the recipient in the 24 h before at: a reply is only possible inside the customer-service window"
		return nil, r
	}
	card := e.cards.at(e.list, ev.at)
	if card.Model == tariff.ModelMessage {
		return e.perMessage(ev, card, r)
	}
	price, _, ok := card.Price(tariff.Category(ev.category), ev.recipient, 1)
	if !ok {
		r.Outcome, r.Reason = Rejected, "LUNAS_WA_PRICES has no price for the recipient's country"
		if card.ID != tariff.EnvCardID {
			r.Reason = "rate card " + card.ID + " has no price for the recipient's country"
		}
		return nil, r
	}
	e.cards.used[card.ID] = true
	m := &msg{eventID: ev.id, kind: ev.kind, recipient: ev.recipient, category: ev.category, at: ev.at, cardID: cardID(card)}
	if w := e.openWindow(ev.recipient, ev.category, ev.at); w != nil {
		m.outcome, m.windowEnd = Free, w.windowEnd
		return m, r
	}
	if !e.take(ledger.BalanceWA, price) {
		r.Outcome = Blocked
		r.Reason = fmt.Sprintf("the WhatsApp balance (%s) does not cover %s: nothing debited, do not send", proforma.Rupiah(e.wa), proforma.Rupiah(price))
		return nil, r
	}
	end := ev.at.Add(Window)
	m.outcome, m.amount, m.windowEnd = Charged, price, &end
	e.postings = append(e.postings, posting{balance: ledger.BalanceWA, kind: "usage", amount: -price, event: m,
		memo: ev.category + " conversation " + ev.recipient})
	return m, r
}

// openWindow is the charged, unrefunded send or reply of (recipient,
// category) whose window [at, at+24h) holds t.
func (e *engine) openWindow(recipient, category string, t time.Time) *msg {
	for _, m := range e.byRecipient[recipient] {
		if (m.kind == KindSend || m.kind == KindReply) && m.category == category && m.outcome == Charged && m.refunded == 0 &&
			!m.at.After(t) && t.Before(*m.windowEnd) {
			return m
		}
	}
	return nil
}

// inboundBefore reports whether the recipient wrote in the 24 h up to t.
func (e *engine) inboundBefore(recipient string, t time.Time) bool {
	for _, m := range e.byRecipient[recipient] {
		if m.kind == KindInbound && !m.at.After(t) && t.Before(m.at.Add(Window)) {
			return true
		}
	}
	return false
}

// failed refunds the send or reply that ev.id names and closes its window,
// unless a later message already went out free inside that window.
func (e *engine) failed(ev event) (*msg, Result) {
	r := Result{ID: ev.id, Kind: ev.kind}
	var orig, status *msg
	for _, m := range e.byID[ev.id] {
		if m.kind == KindStatus {
			status = m
			continue
		}
		if orig == nil || m.outcome == Charged {
			orig = m
		}
	}
	if orig == nil {
		r.Outcome, r.Reason = Rejected, "no earlier send or reply with this id"
		return nil, r
	}
	m := &msg{eventID: ev.id, kind: KindFailed, recipient: orig.recipient, category: orig.category, at: ev.at, outcome: Free}
	e.failedIDs[ev.id] = true
	switch {
	case status != nil:
		m.reason = "nothing to refund: Meta's status webhook already settled this message"
	case orig.outcome != Charged && orig.pricingType != "":
		m.reason = "nothing to refund: the message was free"
	case orig.outcome != Charged:
		m.reason = "nothing to refund: the message was sent inside an open window and not charged"
	case orig.refunded > 0:
		m.reason = "already refunded"
	case orig.pricingType == "" && e.usedLater(orig):
		m.reason = "not refunded: a later message went out inside its window"
	default:
		m.outcome, m.amount = Refunded, orig.amount
		e.uncount(orig)
		orig.refunded = orig.amount
		if orig.seq != 0 {
			e.refundedOld = append(e.refundedOld, orig)
		}
		e.give(ledger.BalanceWA, orig.amount)
		e.postings = append(e.postings, posting{balance: ledger.BalanceWA, kind: "usage_refund", amount: orig.amount, event: m,
			memo: "refund of failed " + orig.kind + " " + orig.eventID})
	}
	return m, r
}

// usedLater reports whether a later message of the same recipient and
// category went out free, riding on orig's window (and did not fail).
func (e *engine) usedLater(orig *msg) bool {
	for _, m := range e.byRecipient[orig.recipient] {
		if m != orig && (m.kind == KindSend || m.kind == KindReply) && m.category == orig.category && m.outcome == Free &&
			!m.at.Before(orig.at) && m.at.Before(*orig.windowEnd) && !e.failedIDs[m.eventID] {
			return true
		}
	}
	return false
}

// visitor charges one unique visitor the first time it is seen in a
// calendar month.
func (e *engine) visitor(ev event) (*msg, Result) {
	r := Result{ID: ev.id, Kind: ev.kind}
	m0, _ := e.month(ev.at)
	k := ev.visitor + "\x00" + m0.Format("2006-01")
	m := &msg{eventID: ev.id, kind: KindVisitor, visitor: ev.visitor, at: ev.at, outcome: Free}
	if e.visitors[k] {
		return m, r
	}
	if !e.take(ledger.BalanceMUV, 1) {
		r.Outcome, r.Reason = Blocked, "no unique visitors left on the balance: nothing debited"
		return nil, r
	}
	e.visitors[k] = true
	m.outcome, m.amount = Charged, 1
	e.postings = append(e.postings, posting{balance: ledger.BalanceMUV, kind: "usage", amount: -1, event: m, memo: "unique visitor " + m0.In(e.loc).Format("2006-01")})
	return m, r
}

// take debits amount from balance when it covers it.
func (e *engine) take(balance string, amount int64) bool {
	if balance == ledger.BalanceWA {
		e.needWA += amount
		if e.unlimited || e.wa >= amount {
			e.wa -= amount
			return true
		}
		e.needWA -= amount
	} else {
		e.needMUV += amount
		if e.unlimited || e.muv >= amount {
			e.muv -= amount
			return true
		}
		e.needMUV -= amount
	}
	e.blocked++
	return false
}

func (e *engine) give(balance string, amount int64) {
	if balance == ledger.BalanceWA {
		e.wa += amount
	} else {
		e.muv += amount
	}
}
