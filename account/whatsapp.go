package account

// An account's WhatsApp billing settings (API.md "Accounts", "Billing by
// message"): the price list whose rate cards price its messages, and the
// Meta phone-number ids whose status webhooks bill it.

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/store"
)

// DefaultPriceList is the price list of an account that names none.
const DefaultPriceList = "default"

// maxPhoneNumberIDs bounds one account's list (a BSP customer has a few
// numbers, not thousands).
const maxPhoneNumberIDs = 100

// validWA reports every malformed WhatsApp field of in into ve.
func validWA(in Input, ve *lunas.ValidationError) {
	if in.WAPriceList != nil && *in.WAPriceList != "" && !ValidID(*in.WAPriceList) {
		ve.Add("wa_price_list", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
	}
	if in.WhatsAppPhoneNumberIDs == nil {
		return
	}
	if len(*in.WhatsAppPhoneNumberIDs) > maxPhoneNumberIDs {
		ve.Add("whatsapp_phone_number_ids", "at most %d ids", maxPhoneNumberIDs)
	}
	for i, id := range *in.WhatsAppPhoneNumberIDs {
		if !digitsOnly(id, 1, 32) {
			ve.Add("whatsapp_phone_number_ids", "id %d (%q) is not Meta's phone-number id: 1-32 digits", i, id)
		}
	}
}

func digitsOnly(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// putWA stores the WhatsApp settings in the account's PUT transaction: the
// price list when given (""→ default), and the phone-number ids as the
// whole list when given. An id another account lists is a conflict and the
// caller's transaction rolls back.
func putWA(ctx context.Context, tx pgx.Tx, id string, in Input, now time.Time) error {
	if in.WAPriceList != nil {
		list := *in.WAPriceList
		if list == "" {
			list = DefaultPriceList
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET wa_price_list = $2 WHERE id = $1`, id, list); err != nil {
			return err
		}
	}
	if in.WhatsAppPhoneNumberIDs == nil {
		return nil
	}
	ids := slices.Compact(slices.Sorted(slices.Values(*in.WhatsAppPhoneNumberIDs)))
	var taken []string
	rows, err := tx.Query(ctx, `SELECT phone_number_id FROM wa_phone_numbers WHERE phone_number_id = ANY($1) AND account_id <> $2 ORDER BY 1`, ids, id)
	if err != nil {
		return err
	}
	if taken, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return err
	}
	if len(taken) > 0 {
		return lunas.E(lunas.KindConflict, "whatsapp_phone_number_ids: %v already bill another account", taken)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM wa_phone_numbers WHERE account_id = $1 AND NOT (phone_number_id = ANY($2))`, id, ids); err != nil {
		return err
	}
	// A concurrent PUT of another account may take an id between the check
	// and here: the primary key then refuses it and the request fails (503
	// retry), never double-assigns.
	_, err = tx.Exec(ctx, `INSERT INTO wa_phone_numbers (phone_number_id, account_id, created_at)
		SELECT unnest($2::text[]), $1, $3 ON CONFLICT (phone_number_id) DO NOTHING`, id, ids, now)
	return err
}

// WhatsApp is an account's WhatsApp billing settings.
type WhatsApp struct {
	PriceList      string
	PhoneNumberIDs []string
}

// ReadWhatsApp reads an account's price list and phone-number ids.
func ReadWhatsApp(ctx context.Context, q store.Querier, id string) (WhatsApp, error) {
	var w WhatsApp
	err := q.QueryRow(ctx, `SELECT a.wa_price_list, coalesce(array_agg(p.phone_number_id ORDER BY p.phone_number_id) FILTER (WHERE p.phone_number_id IS NOT NULL), '{}')
		FROM accounts a LEFT JOIN wa_phone_numbers p ON p.account_id = a.id WHERE a.id = $1 GROUP BY a.wa_price_list`, id).Scan(&w.PriceList, &w.PhoneNumberIDs)
	if err == pgx.ErrNoRows {
		return w, lunas.E(lunas.KindNotFound, "account %q not found", id)
	}
	return w, store.Unavailable(err)
}

// ByPhoneNumberIDs maps each phone-number id that an account lists to that
// account (ids no account lists are absent).
func ByPhoneNumberIDs(ctx context.Context, q store.Querier, ids []string) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT phone_number_id, account_id FROM wa_phone_numbers WHERE phone_number_id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var p, a string
	_, err = pgx.ForEachRow(rows, []any{&p, &a}, func() error { out[p] = a; return nil })
	return out, err
}
