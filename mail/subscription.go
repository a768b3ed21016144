package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/templates"
)

// attachment is the proforma a mail of kind carries for order o: PAID on
// the confirmation, UNPAID on a subscription invoice's billing mail; ""
// for none.
func attachment(kind string, o *order.Order) string {
	switch {
	case kind == KindConfirmation:
		return proforma.KindPaid
	case kind == KindBilling && o.SubscriptionID != nil && !o.Paid():
		return proforma.KindUnpaid
	}
	return ""
}

// subscriptionData adds a subscription invoice's plan, period and due date.
func subscriptionData(o *order.Order, d *templates.Data) {
	if o.DueDate == nil {
		return
	}
	if due, err := time.Parse(time.DateOnly, *o.DueDate); err == nil {
		d.DueDate = due.Format("02-01-2006")
	}
	for _, it := range o.Items {
		if it.Product == order.ProductSubscription {
			d.PlanName = proforma.LineName(it, o.Locale)
			if it.Period != nil {
				d.Period = *it.Period
			}
		}
	}
}

// ReminderData is what a reminder mail row keeps (mails.data): the days
// overdue when it was queued, so every retry says the same.
type ReminderData struct {
	DaysOverdue int `json:"days_overdue"`
}

func (s *Service) reminderData(ctx context.Context, mailID string, d *templates.Data) error {
	var raw []byte
	if err := s.pool.QueryRow(ctx, `SELECT data FROM mails WHERE id = $1`, mailID).Scan(&raw); err != nil {
		return store.Unavailable(err)
	}
	if len(raw) == 0 {
		return nil
	}
	var rd ReminderData
	if err := json.Unmarshal(raw, &rd); err != nil {
		return fmt.Errorf("%w: reminder data of %s: %v", ErrPermanent, mailID, err)
	}
	d.DaysOverdue = rd.DaysOverdue
	return nil
}
