package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	gomail "github.com/wneessen/go-mail"

	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
	"github.com/lunas-id/lunas/templates"
)

// KindPeopleLink is a finance person's one-time welcome or reset link
// (API.md "People, roles and approvals"): a mail to a person, neither an
// order's nor an account's. The link is a credential: it is kept on the
// row only until the SMTP server accepts the mail (recordSent clears it).
const KindPeopleLink = "people_link"

// PeopleLink is what the link mail says.
type PeopleLink struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Link      string    `json:"link"`
	Reset     bool      `json:"reset"` // a reset of someone who had a password
	TOTP      bool      `json:"totp"`  // the page will enrol an authenticator
	ExpiresAt time.Time `json:"expires_at"`
}

// QueuePeopleLink records the link mail to `to` in tx (the transaction
// that issued the link: people.Users.Add or Reset) and queues its sending
// through the outbox, so the mail exists exactly when the link does.
func QueuePeopleLink(ctx context.Context, tx pgx.Tx, to, locale string, l PeopleLink, now time.Time) error {
	data, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if locale != "en" {
		locale = "id"
	}
	id := store.NewID("mail_" + KindPeopleLink)
	msgID := fmt.Sprintf("<%s.%d@lunas.billing>", id, now.Unix())
	if _, err := tx.Exec(ctx, `
		INSERT INTO mails (id, kind, to_addr, locale, status, message_id, data, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, id, KindPeopleLink, to, locale, StatusQueued, msgID, data, now); err != nil {
		return fmt.Errorf("mail: queue the link for %s: %w", to, err)
	}
	return outbox.Enqueue(ctx, tx, task.Mail(id))
}

// buildPeopleMail renders the link mail from its row.
func (s *Service) buildPeopleMail(ctx context.Context, r row) (*gomail.Msg, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM mails WHERE id = $1`, r.id).Scan(&raw)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, store.Unavailable(err)
	}
	var l PeopleLink
	if len(raw) == 0 || json.Unmarshal(raw, &l) != nil || l.Link == "" {
		return nil, fmt.Errorf("%w: the link of %s is gone", ErrPermanent, r.id)
	}
	d := templates.Data{SellerName: "lunas", RequesterName: l.Name, Link: l.Link, Role: l.Role, LinkReset: l.Reset, LinkTOTP: l.TOTP,
		ExpiresAt: proforma.LocalTime(l.ExpiresAt, s.loc)}
	if n, err := gomailAddrName(s.from); err == nil && n != "" {
		d.SellerName = n
	}
	return s.message(r, d)
}
