package usage

// Billing by message (API.md "Billing by message"): under a message card
// every send is charged at its category's price for the recipient's market
// and the account's monthly volume tier, unless the card makes it free
// (utility in the customer-service window, anything in an entry-point
// window); a reply costs the card's service price. No 24 h windows.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/tariff"
)

// KindStatus is the usage event of Meta's status webhook that settled a
// message (one per message id and account).
const KindStatus = "status"

// Pricing types lunas records on message-card events (Meta's names).
const (
	TypeRegular             = "regular"
	TypeFreeCustomerService = "free_customer_service"
	TypeFreeEntryPoint      = "free_entry_point"
)

const msgCols = `u.seq, u.event_id, u.kind, coalesce(u.recipient, ''), coalesce(u.category, ''), coalesce(u.visitor, ''), u.at, u.outcome, u.amount, u.refunded, u.window_ends_at, coalesce(u.reason, ''),
	coalesce(u.market, ''), coalesce(u.card_id, ''), coalesce(u.pricing_type, ''), u.owed, u.entry_ends_at`

func scanMsgs(rows pgx.Rows) ([]*msg, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*msg, error) {
		m := &msg{}
		err := r.Scan(&m.seq, &m.eventID, &m.kind, &m.recipient, &m.category, &m.visitor, &m.at, &m.outcome, &m.amount, &m.refunded, &m.windowEnd, &m.reason,
			&m.market, &m.cardID, &m.pricingType, &m.owed, &m.entryEnd)
		m.at = m.at.UTC()
		return m, err
	})
}

func (s *Service) newEngine() *engine {
	return &engine{prices: s.prices, loc: s.loc, stored: map[string]*msg{}, byRecipient: map[string][]*msg{},
		byID: map[string][]*msg{}, failedIDs: map[string]bool{}, visitors: map[string]bool{},
		tiers: map[string]int64{}, tierDelta: map[string]int64{}}
}

// loadCards reads the account's price list and its cards, in one round
// trip (every usage batch does this).
func (e *engine) loadCards(ctx context.Context, tx pgx.Tx, accountID string) error {
	var err error
	e.list, e.cards, err = loadAccountCards(ctx, tx, e.prices.Card(), accountID)
	return err
}

// lookback is how far before a batch's first event an inbound can still
// hold a window open: 24 h, or the longest entry-point window of a card.
func (e *engine) lookback() time.Duration {
	d := Window
	for _, cs := range e.cards.byList {
		for _, c := range cs {
			d = max(d, time.Duration(c.Free.EntryPointHours)*time.Hour)
		}
	}
	return d
}

func (e *engine) tierKey(t time.Time, category, market string) string {
	m0, _ := e.month(t)
	return m0.In(e.loc).Format("2006-01-02") + "|" + category + "|" + market
}

// loadTiers reads the account's billed-message counts of the months from
// lo to hi.
func (e *engine) loadTiers(ctx context.Context, tx pgx.Tx, accountID string, lo, hi time.Time) error {
	if lo.IsZero() || !e.cards.hasMessage() {
		return nil // tiers are a message card's: a conversation-only list costs no round trip
	}
	m0, _ := e.month(lo)
	_, m1 := e.month(hi)
	rows, err := tx.Query(ctx, `SELECT to_char(month, 'YYYY-MM-DD'), category, market, n FROM wa_tier_counts
		WHERE account_id = $1 AND month >= $2::date AND month < $3::date`, accountID, m0.In(e.loc).Format("2006-01-02"), m1.In(e.loc).Format("2006-01-02"))
	if err != nil {
		return err
	}
	var month, cat, market string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&month, &cat, &market, &n}, func() error {
		e.tiers[month+"|"+cat+"|"+market] = n
		return nil
	})
	return err
}

// count adds a billed message to its tier (and uncount takes it back).
func (e *engine) count(m *msg) {
	if m.market == "" || m.pricingType == "" {
		return
	}
	k := e.tierKey(m.at, m.category, m.market)
	e.tiers[k]++
	e.tierDelta[k]++
}

func (e *engine) uncount(m *msg) {
	if m.market == "" || m.pricingType == "" || m.outcome != Charged {
		return
	}
	k := e.tierKey(m.at, m.category, m.market)
	e.tiers[k]--
	e.tierDelta[k]--
}

// price is card's price of the next billed message of category to
// recipient at t (its tier included) and the market it counts under.
func (e *engine) price(card tariff.Card, category tariff.Category, recipient string, t time.Time) (int64, string, bool) {
	_, market, ok := card.Price(category, recipient, 1)
	if !ok {
		return 0, "", false
	}
	n := e.tiers[e.tierKey(t, string(category), market)] + 1
	return card.Price(category, recipient, n)
}

func cardID(c tariff.Card) string {
	if c.ID == tariff.EnvCardID {
		return ""
	}
	return c.ID
}

// freeType says why a message to recipient at t is free under card, ""
// when it is not.
func (e *engine) freeType(card tariff.Card, category tariff.Category, recipient string, t time.Time) string {
	if card.Free.EntryPointHours > 0 {
		for _, m := range e.byRecipient[recipient] {
			if m.kind == KindInbound && m.entryEnd != nil && !m.at.After(t) && t.Before(*m.entryEnd) {
				return TypeFreeEntryPoint
			}
		}
	}
	if category == tariff.Utility && card.Free.UtilityInServiceWindow && e.inboundBefore(recipient, t) {
		return TypeFreeCustomerService
	}
	return ""
}

// perMessage charges a send or reply under a message card.
func (e *engine) perMessage(ev event, card tariff.Card, r Result) (*msg, Result) {
	cat := tariff.Category(ev.category)
	m := &msg{eventID: ev.id, kind: ev.kind, recipient: ev.recipient, category: ev.category, at: ev.at, cardID: cardID(card)}
	e.cards.used[card.ID] = true
	for _, o := range e.byID[ev.id] {
		if o.kind == KindStatus {
			// Meta's status came first and settled the message: the app's
			// report of it moves nothing.
			m.outcome, m.reason = Free, "already settled by Meta's status webhook"
			return m, r
		}
	}
	if t := e.freeType(card, cat, ev.recipient, ev.at); t != "" {
		m.outcome, m.pricingType = Free, t
		return m, r
	}
	price, market, ok := e.price(card, cat, ev.recipient, ev.at)
	if !ok {
		r.Outcome, r.Reason = Rejected, fmt.Sprintf("rate card %s has no %s price for the recipient's market", card.ID, cat)
		return nil, r
	}
	m.market = market
	if ev.kind == KindReply && price == 0 {
		m.outcome, m.pricingType = Free, TypeFreeCustomerService
		return m, r
	}
	if !e.take(ledger.BalanceWA, price) {
		r.Outcome = Blocked
		r.Reason = fmt.Sprintf("the WhatsApp balance (%s) does not cover %s: nothing debited, do not send", proforma.Rupiah(e.wa), proforma.Rupiah(price))
		return nil, r
	}
	m.outcome, m.amount, m.pricingType = Charged, price, TypeRegular
	e.count(m)
	e.postings = append(e.postings, posting{balance: ledger.BalanceWA, kind: "usage", amount: -price, event: m,
		memo: ev.category + " message " + ev.recipient})
	return m, r
}

// owe debits what a delivered message owes: from the balance as far as it
// goes, the rest to outstanding (API.md: a delivered message is owed
// whatever the balance holds). It returns the part owed beyond the balance.
func (e *engine) owe(m *msg, amount int64, memo string) int64 {
	if amount <= 0 {
		return 0
	}
	from := min(e.wa, amount)
	e.wa -= from
	owed := amount - from
	if from > 0 {
		e.postings = append(e.postings, posting{balance: ledger.BalanceWA, kind: "usage", amount: -from, event: m, memo: memo})
	}
	if owed > 0 {
		e.out += owed
		e.postings = append(e.postings, posting{balance: ledger.BalanceOutstanding, kind: "usage_outstanding", amount: owed, event: m, memo: memo + " (owed beyond the balance)"})
	}
	return owed
}

// giveBack credits amount for m: what orig owed beyond the balance comes
// off outstanding first (as far as outstanding still holds it), the rest
// back to the balance.
func (e *engine) giveBack(m *msg, amount, owed int64, memo string) {
	if amount <= 0 {
		return
	}
	off := min(owed, e.out, amount)
	if off > 0 {
		e.out -= off
		e.postings = append(e.postings, posting{balance: ledger.BalanceOutstanding, kind: "usage_refund", amount: -off, event: m, memo: memo})
	}
	if rest := amount - off; rest > 0 {
		e.give(ledger.BalanceWA, rest)
		e.postings = append(e.postings, posting{balance: ledger.BalanceWA, kind: "usage_refund", amount: rest, event: m, memo: memo})
	}
}

// writeTiers moves the tier counters by what the batch charged and refunded.
func (e *engine) writeTiers(ctx context.Context, tx pgx.Tx, accountID string) error {
	if len(e.tierDelta) == 0 {
		return nil
	}
	var months, cats, markets []string
	var ns []int64
	for k, d := range e.tierDelta {
		if d == 0 {
			continue
		}
		parts := strings.SplitN(k, "|", 3)
		mo, c, mk := parts[0], parts[1], parts[2]
		months, cats, markets, ns = append(months, mo), append(cats, c), append(markets, mk), append(ns, d)
	}
	if len(ns) == 0 {
		return nil
	}
	// The account's row lock orders its batches: update what exists, then
	// add what does not.
	if _, err := tx.Exec(ctx, `UPDATE wa_tier_counts t SET n = greatest(t.n + x.n, 0)
		FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) x(m, c, k, n)
		WHERE t.account_id = $1 AND t.month = x.m::date AND t.category = x.c AND t.market = x.k`,
		accountID, months, cats, markets, ns); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO wa_tier_counts (account_id, month, category, market, n)
		SELECT $1, m::date, c, k, greatest(n, 0) FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) x(m, c, k, n)
		ON CONFLICT (account_id, month, category, market) DO NOTHING`,
		accountID, months, cats, markets, ns)
	return err
}
