package usage

// Rate cards (API.md "Billing by message"): usage owns wa_rate_cards because
// the batch that prices an event with a card is the one that makes the card
// immutable, under the same transaction.

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/tariff"
)

// StoredCard is a rate card as stored: the card and whether it has priced
// an event (then it never changes).
type StoredCard struct {
	tariff.Card
	Priced    bool
	Revision  int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PutCard creates or replaces rate card id from a PUT body. created reports
// a new card; the same body again changes nothing (created false). A card
// that priced an event is refused with a conflict, as is a second card of
// the list at the same instant.
func (s *Service) PutCard(ctx context.Context, id string, body []byte) (StoredCard, bool, error) {
	c, err := tariff.ParseCard(id, body)
	if err != nil {
		return StoredCard{}, false, err
	}
	canon := c.Canonical()
	now := s.clock.Now()
	var out StoredCard
	var created bool
	err = store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		created = false
		old, err := loadCard(ctx, tx, id, true)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			tag, err := tx.Exec(ctx, `INSERT INTO wa_rate_cards (id, price_list, effective_from, model, body, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (price_list, effective_from) DO NOTHING`,
				id, c.PriceList, c.EffectiveFrom, string(c.Model), canon, now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return sameInstant(c)
			}
			created = true
		case err != nil:
			return err
		case old.SameBody(c):
			out = old
			return nil
		case old.Priced:
			return lunas.E(lunas.KindConflict, "rate card %s has priced usage already and cannot change: put a new card with a later effective_from", id)
		default:
			tag, err := tx.Exec(ctx, `UPDATE wa_rate_cards SET price_list = $2, effective_from = $3, model = $4, body = $5, revision = revision + 1, updated_at = $6
				WHERE id = $1 AND NOT priced AND NOT EXISTS (SELECT 1 FROM wa_rate_cards o WHERE o.id <> $1 AND o.price_list = $2 AND o.effective_from = $3)`,
				id, c.PriceList, c.EffectiveFrom, string(c.Model), canon, now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return sameInstant(c)
			}
		}
		out, err = loadCard(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return StoredCard{}, false, unavailable(err)
	}
	return out, created, nil
}

func sameInstant(c tariff.Card) error {
	return lunas.E(lunas.KindConflict, "price list %s has another card in force from %s already", c.PriceList, c.EffectiveFrom.Format(time.RFC3339))
}

const cardColumns = `id, body, priced, revision, created_at, updated_at`

func scanCard(r pgx.Row) (StoredCard, error) {
	var sc StoredCard
	var body []byte
	if err := r.Scan(&sc.ID, &body, &sc.Priced, &sc.Revision, &sc.CreatedAt, &sc.UpdatedAt); err != nil {
		return sc, err
	}
	id := sc.ID
	if err := json.Unmarshal(body, &sc.Card); err != nil {
		return sc, err
	}
	sc.ID = id
	return sc, nil
}

func loadCard(ctx context.Context, tx pgx.Tx, id string, lock bool) (StoredCard, error) {
	if lock {
		return scanCard(tx.QueryRow(ctx, `SELECT `+cardColumns+` FROM wa_rate_cards WHERE id = $1 FOR UPDATE`, id))
	}
	return scanCard(tx.QueryRow(ctx, `SELECT `+cardColumns+` FROM wa_rate_cards WHERE id = $1`, id))
}

// Cards lists rate cards, of one price list when list is not "", by list
// and effective_from.
func (s *Service) Cards(ctx context.Context, list string) ([]StoredCard, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+cardColumns+` FROM wa_rate_cards WHERE ($1 = '' OR price_list = $1) ORDER BY price_list, effective_from`, list)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredCard, error) { return scanCard(r) })
	return cs, store.Unavailable(err)
}

// cardSet is the cards of the price lists a batch needs, with the
// LUNAS_WA_PRICES card as the fallback, and the cards the batch priced
// with (which become immutable when it commits).
type cardSet struct {
	byList   map[string][]tariff.Card
	revision map[string]int
	priced   map[string]bool // priced when loaded: nothing to mark
	env      tariff.Card
	used     map[string]bool
}

// loadAccountCards reads the price list of an account (accounts is
// account's table: read here, never written) and the list's cards.
func loadAccountCards(ctx context.Context, tx pgx.Tx, env tariff.Card, accountID string) (string, *cardSet, error) {
	cs := &cardSet{byList: map[string][]tariff.Card{}, revision: map[string]int{}, priced: map[string]bool{}, env: env, used: map[string]bool{}}
	rows, err := tx.Query(ctx, `SELECT a.wa_price_list, c.id, c.body, c.priced, c.revision, c.created_at, c.updated_at
		FROM accounts a LEFT JOIN wa_rate_cards c ON c.price_list = a.wa_price_list WHERE a.id = $1`, accountID)
	if err != nil {
		return "", nil, err
	}
	defer rows.Close()
	list := account.DefaultPriceList
	for rows.Next() {
		var id *string
		var body []byte
		var sc StoredCard
		var priced *bool
		var rev *int
		var ca, ua *time.Time
		if err := rows.Scan(&list, &id, &body, &priced, &rev, &ca, &ua); err != nil {
			return "", nil, err
		}
		if id == nil {
			continue // the list has no cards
		}
		if err := json.Unmarshal(body, &sc.Card); err != nil {
			return "", nil, err
		}
		sc.ID = *id
		cs.byList[sc.PriceList] = append(cs.byList[sc.PriceList], sc.Card)
		cs.revision[sc.ID] = *rev
		cs.priced[sc.ID] = *priced
	}
	return list, cs, rows.Err()
}

// hasMessage reports whether any loaded card prices per message.
func (cs *cardSet) hasMessage() bool {
	for _, l := range cs.byList {
		for _, c := range l {
			if c.Model == tariff.ModelMessage {
				return true
			}
		}
	}
	return false
}

// at is the card of list in force at t.
func (cs *cardSet) at(list string, t time.Time) tariff.Card {
	if c, ok := tariff.Select(cs.byList[list], t); ok {
		return c
	}
	return cs.env
}

// markPriced makes the cards this batch priced with immutable, and fails
// (the batch rolls back, the caller retries) when a PUT changed one of
// them after the batch read it.
func (cs *cardSet) markPriced(ctx context.Context, tx pgx.Tx) error {
	ids := make([]string, 0, len(cs.used))
	revs := make([]int32, 0, len(cs.used))
	for id := range cs.used {
		if id == tariff.EnvCardID || cs.priced[id] {
			continue // a priced card never changes: nothing to mark or check
		}
		ids = append(ids, id)
		revs = append(revs, int32(cs.revision[id]))
	}
	if len(ids) == 0 {
		return nil
	}
	// Only a card not yet priced is written (and locked): once priced, a
	// card costs every later batch one read, not a hot row. A PUT that
	// changed the card first makes the UPDATE skip it (its revision moved)
	// and the check below, a new statement that sees that PUT, fail.
	if _, err := tx.Exec(ctx, `UPDATE wa_rate_cards c SET priced = true FROM unnest($1::text[], $2::int[]) k(id, revision)
		WHERE c.id = k.id AND c.revision = k.revision AND NOT c.priced`, ids, revs); err != nil {
		return err
	}
	var stale int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM unnest($1::text[], $2::int[]) k(id, revision) JOIN wa_rate_cards c ON c.id = k.id
		WHERE c.revision <> k.revision OR NOT c.priced`, ids, revs).Scan(&stale); err != nil {
		return err
	}
	if stale > 0 {
		return errors.New("usage: a rate card changed while the batch priced with it; retry")
	}
	return nil
}
