package invoice

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/task"
)

// Mail kinds.
const (
	MailBilling      = "billing"      // at confirm: summary, instructions, signed PDF link
	MailConfirmation = "confirmation" // at paid: PDF attached
	MailRejection    = "rejection"    // at reject: the reason
	MailRefund       = "refund"       // a reversal the gateway confirmed: what was taken back
	MailInstructions = "instructions" // a VA, bill or transfer attempt opened: how to pay it
	MailReminder     = "reminder"     // a bulk sending's reminder of an unpaid subscription invoice
)

// QueueMail records a mail to the order's requester, and only to them, with
// its Message-ID fixed now so that every retry sends the same message, and
// queues its sending. The mail id is deterministic per order and kind (and
// per rejection), so a retried transaction cannot queue a second mail.
//
// For a refund notice, reason is the reversal id: one mail per reversal;
// for payment instructions, the attempt id: one mail per attempt.
func QueueMail(ctx context.Context, tx pgx.Tx, o *Order, kind, reason string, now time.Time) error {
	id := "mail_" + kind + "_" + o.ID
	if kind == MailRefund || kind == MailInstructions {
		id = "mail_" + kind + "_" + reason
	}
	if kind == MailRejection {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM mails WHERE order_id = $1 AND kind = $2`, o.ID, kind).Scan(&n); err != nil {
			return err
		}
		id = fmt.Sprintf("%s_%d", id, n+1)
	}
	msgID := fmt.Sprintf("<%s.%d@lunas.billing>", id, now.Unix())
	tag, err := tx.Exec(ctx, `
		INSERT INTO mails (id, order_id, kind, to_addr, locale, status, message_id, reason, created_at)
		VALUES ($1,$2,$3,$4,$5,'queued',$6,$7,$8) ON CONFLICT (id) DO NOTHING`,
		id, o.ID, kind, o.Requester.Email, o.Locale, msgID, nullable(reason), now)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	return outbox.Enqueue(ctx, tx, task.Mail(id))
}

// nullable stores "" as NULL.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// QueueMailAs records a mail of kind to the order's requester under the
// caller's deterministic id (a bulk sending's one mail per invoice, message
// and day), with data kept on the row for its rendering, and queues its
// sending. queued is false when a mail with that id exists already: it was
// queued before, and nothing is written.
func QueueMailAs(ctx context.Context, tx pgx.Tx, o *Order, kind, id string, data []byte, now time.Time) (queued bool, err error) {
	msgID := fmt.Sprintf("<%s.%d@lunas.billing>", id, now.Unix())
	tag, err := tx.Exec(ctx, `
		INSERT INTO mails (id, order_id, kind, to_addr, locale, status, message_id, data, created_at)
		VALUES ($1,$2,$3,$4,$5,'queued',$6,$7,$8) ON CONFLICT (id) DO NOTHING`,
		id, o.ID, kind, o.Requester.Email, o.Locale, msgID, data, now)
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	return true, outbox.Enqueue(ctx, tx, task.Mail(id))
}
