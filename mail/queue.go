package mail

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/task"
)

// Mail kinds: which template a mail renders.
const (
	KindBilling      = "billing"      // at confirm: summary, instructions, signed PDF link
	KindConfirmation = "confirmation" // at paid: PDF attached
	KindRejection    = "rejection"    // at reject: the reason
	KindRefund       = "refund"       // a reversal the gateway confirmed: what was taken back
	KindInstructions = "instructions" // a VA, bill or transfer attempt opened: how to pay it
	KindReminder     = "reminder"     // a bulk sending's reminder of an unpaid subscription invoice
)

// Queue records a mail of kind to the order's requester, and only to them,
// inside tx (the transaction of the change it tells of), with its
// Message-ID fixed now so that every retry sends the same message, and
// queues its sending. The mail id is deterministic per order and kind (and
// per rejection), so a retried transaction cannot queue a second mail.
// invoice (billing), payment (confirmation, refund, instructions) and
// review (rejection) call it.
//
// For a refund notice, reason is the reversal id: one mail per reversal;
// for payment instructions, the attempt id: one mail per attempt.
func Queue(ctx context.Context, tx pgx.Tx, o *order.Order, kind, reason string, now time.Time) error {
	id := "mail_" + kind + "_" + o.ID
	if kind == KindRefund || kind == KindInstructions {
		id = "mail_" + kind + "_" + reason
	}
	if kind == KindRejection {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM mails WHERE order_id = $1 AND kind = $2`, o.ID, kind).Scan(&n); err != nil {
			return err
		}
		id = fmt.Sprintf("%s_%d", id, n+1)
	}
	_, err := insert(ctx, tx, o, kind, id, nullable(reason), nil, now)
	return err
}

// QueueAs records a mail of kind to the order's requester under the
// caller's deterministic id (a bulk sending's one mail per invoice, message
// and day), with data kept on the row for its rendering, and queues its
// sending. queued is false when a mail with that id exists already: it was
// queued before, and nothing is written. sending calls it.
func QueueAs(ctx context.Context, tx pgx.Tx, o *order.Order, kind, id string, data []byte, now time.Time) (queued bool, err error) {
	return insert(ctx, tx, o, kind, id, nil, data, now)
}

func insert(ctx context.Context, tx pgx.Tx, o *order.Order, kind, id string, reason *string, data []byte, now time.Time) (bool, error) {
	msgID := fmt.Sprintf("<%s.%d@lunas.billing>", id, now.Unix())
	tag, err := tx.Exec(ctx, `
		INSERT INTO mails (id, order_id, kind, to_addr, locale, status, message_id, reason, data, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (id) DO NOTHING`,
		id, o.ID, kind, o.Requester.Email, o.Locale, StatusQueued, msgID, reason, data, now)
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	return true, outbox.Enqueue(ctx, tx, task.Mail(id))
}

// nullable stores "" as NULL.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
