package invoice

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/store"
)

// Mail kinds.
const (
	MailBilling      = "billing"      // at confirm: summary, instructions, signed PDF link
	MailConfirmation = "confirmation" // at paid: PDF attached
	MailRejection    = "rejection"    // at reject: the reason
)

// queueMail records a mail to the order's requester, and only to them, with
// its Message-ID fixed now so that every retry sends the same message, and
// queues its sending. The mail id is deterministic per order and kind (and
// per rejection), so a retried transaction cannot queue a second mail.
func queueMail(ctx context.Context, tx pgx.Tx, o *Order, kind, reason string, now time.Time) error {
	id := "mail_" + kind + "_" + o.ID
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
	return store.Enqueue(ctx, tx, job("mail:"+id, TaskMailSend, TaskPayload{MailID: id}, time.Time{}))
}
