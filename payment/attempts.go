package payment

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
)

// PaymentInput is the body of POST /v1/orders/{id}/payments.
type PaymentInput struct {
	Method    string `json:"method"`
	CardToken string `json:"card_token"`
	Phone     string `json:"phone"`
}

var phoneRe = regexp.MustCompile(`^\+628[0-9]{7,12}$`)

// NormalizePhone turns an Indonesian mobile number written 08… or +628…
// (spaces and dashes allowed) into +628…; ok is false when it is not one.
func NormalizePhone(p string) (string, bool) {
	p = strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(p))
	switch {
	case strings.HasPrefix(p, "08"):
		p = "+62" + p[1:]
	case strings.HasPrefix(p, "628"):
		p = "+" + p
	}
	return p, phoneRe.MatchString(p)
}

// OVO limits on the Xendit e-wallet API, whole rupiah.
const (
	ovoMinAmount = 100
	ovoMaxAmount = 20_000_000
)

// CreatePayment opens a payment attempt. The attempt is committed before the
// gateway is called, so a callback can never arrive for an attempt lunas does
// not know; a refusal marks it failed and surfaces as a 502.
func (s *Service) CreatePayment(ctx context.Context, orderID string, in PaymentInput) (*order.Attempt, error) {
	var ve lunas.ValidationError
	provider := gateway.ProviderFor(in.Method)
	phone := ""
	switch {
	case in.Method == "":
		ve.Add("method", "is required")
	case provider == "":
		ve.Add("method", "unknown method %q (bca_va, bni_va, bri_va, cimb_va, permata_va, mandiri_bill, credit_card, ovo, qris, gopay, shopeepay, manual_transfer)", in.Method)
	case in.Method == gateway.MethodCreditCard && strings.TrimSpace(in.CardToken) == "":
		ve.Add("card_token", "is required for credit_card")
	case in.Method == gateway.MethodOVO:
		var ok bool
		if phone, ok = NormalizePhone(in.Phone); !ok {
			ve.Add("phone", "must be an Indonesian mobile number, +628… or 08…")
		}
	}
	if in.Method != gateway.MethodCreditCard && in.CardToken != "" {
		ve.Add("card_token", "only for credit_card")
	}
	if in.Method != gateway.MethodOVO && in.Phone != "" {
		ve.Add("phone", "only for ovo")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	gw := s.gateways[provider]
	if provider != gateway.ProviderManual && gw == nil {
		return nil, lunas.E(lunas.KindUnavailable, "payment method %s is not configured on this server", in.Method)
	}

	var a order.Attempt
	var o *order.Order
	var deadline *time.Time
	err := s.orders.InTx(ctx, orderID, func(tx pgx.Tx, ord *order.Order, now time.Time) error {
		o = ord
		if o.Status != order.StatusAwaitingPayment {
			return lunas.E(lunas.KindConflict, "cannot start a payment: order %s is %s", o.ID, o.Status)
		}
		if o.ExpiresAt != nil && !now.Before(*o.ExpiresAt) {
			return lunas.E(lunas.KindConflict, "cannot start a payment: invoice %s expired at %s", *o.InvoiceNumber, o.ExpiresAt.In(s.loc).Format(time.RFC3339))
		}
		// A subscription invoice has no deadline: its VA or bill expires at
		// 23:59 of the due date, or of the next day once it is overdue.
		deadline = invoice.AttemptDeadline(o, now, s.loc)
		a = order.Attempt{ID: store.NewID("pay"), OrderID: o.ID, Method: in.Method, Provider: provider, Status: order.AttemptPending,
			Amount: o.Payable, ExpiresAt: deadline, CreatedAt: now, UpdatedAt: now, Details: map[string]any{}}
		// Every attempt charges payable: the total less what the buyer
		// withholds (its tax payment for the seller, not a shortfall).
		if in.Method == gateway.MethodCreditCard {
			a.Fee = s.catalog.CardFee(o.Payable)
			a.Amount = o.Payable + a.Fee
		}
		if in.Method == gateway.MethodOVO && (a.Amount < ovoMinAmount || a.Amount > ovoMaxAmount) {
			return &lunas.ValidationError{Fields: []lunas.FieldError{{Field: "method", Message: fmt.Sprintf("OVO takes %d to %d rupiah; this invoice is %d", ovoMinAmount, ovoMaxAmount, a.Amount)}}}
		}
		if in.Method == gateway.MethodManualTransfer {
			a.Details = map[string]any{"bank_account": s.bank, "reference": *o.InvoiceNumber}
		}
		if in.Method == gateway.MethodOVO {
			a.Details["phone"] = phone
		}
		// A gateway attempt is asked at the gateway reconcileAfter after it
		// opened, in case its callback never comes (the janitor).
		var check *time.Time
		if provider != gateway.ProviderManual {
			t := now.Add(s.reconcileAfter)
			check = &t
		}
		if err := insertAttempt(ctx, tx, a, check); err != nil || in.Method != gateway.MethodManualTransfer {
			return err
		}
		// Where to transfer to is known now: mail it.
		return mail.Queue(ctx, tx, o, mail.KindInstructions, a.ID, now)
	})
	if err != nil || provider == gateway.ProviderManual {
		return &a, err
	}

	req := gateway.ChargeRequest{
		AttemptID: a.ID, InvoiceNumber: *o.InvoiceNumber, Method: a.Method, Amount: a.Amount, ExpiresAt: *deadline, Now: a.CreatedAt,
		CardToken: in.CardToken, Phone: phone, CustomerName: o.Requester.Name, CustomerEmail: o.Requester.Email,
	}
	switch a.Method {
	case gateway.MethodQRIS:
		req.QRISAcquirer = s.acquirer
	case gateway.MethodGoPay, gateway.MethodShopeePay:
		// After paying in the wallet app the payer comes back to the page
		// that shows the order's state.
		if !s.links.IsZero() {
			req.CallbackURL = s.links.PayURL(o.ID)
		}
	}
	res, cerr := gw.Charge(ctx, req)
	// The result is recorded even when the client has gone away.
	wctx := context.WithoutCancel(ctx)
	if cerr != nil {
		var ref *gateway.RefusedError
		msg, code := cerr.Error(), "gateway_error"
		if errors.As(cerr, &ref) {
			msg, code = ref.Message, ref.Code
			if code == "" {
				code = "refused"
			}
		}
		now := s.clock.Now()
		// Only a still-pending attempt fails: a callback may already have settled it.
		err := store.InTx(wctx, s.pool, func(tx pgx.Tx) error { return failCharge(wctx, tx, a.ID, code, msg, now) })
		if err != nil {
			return nil, store.Unavailable(err)
		}
		return nil, lunas.Wrap(lunas.KindGateway, cerr, "%s", msg)
	}
	for k, v := range res.Details {
		a.Details[k] = v
	}
	err = store.InTx(wctx, s.pool, func(tx pgx.Tx) error {
		if err := recordRef(wctx, tx, a.ID, &res.Ref, res.Details); err != nil {
			return err
		}
		// A QR or wallet charge may expire before the order (the gateway's
		// limit for the method): the attempt says when it stops working.
		if walletMethod(a.Method) && !res.ExpiresAt.IsZero() {
			if err := setExpiry(wctx, tx, a.ID, res.ExpiresAt); err != nil {
				return err
			}
		}
		if !mailsInstructions(a.Method) {
			return nil
		}
		// The customer picked a way to pay: mail how (number, bank,
		// amount, deadline), once per attempt.
		return mail.Queue(wctx, tx, o, mail.KindInstructions, a.ID, s.clock.Now())
	})
	if err != nil {
		return nil, store.Unavailable(err)
	}
	if res.Event != nil {
		// A card captured at once: settle through the inbox like any callback.
		id, err := s.RecordEvent(wctx, *res.Event)
		if err != nil {
			return nil, err
		}
		if id > 0 {
			if err := s.ApplyEvent(wctx, id, task.ApplyID(id)); err != nil {
				return nil, err
			}
		}
	}
	got, err := GetAttempt(wctx, s.pool, a.ID)
	return &got, err
}

// CancelAtGateway asks the gateway to void an attempt that lunas closed
// (another attempt paid the order). Called by the worker; a gateway that
// says the transaction cannot be cancelled any more is not an error.
func (s *Service) CancelAtGateway(ctx context.Context, attemptID string) error {
	a, err := GetAttempt(ctx, s.pool, attemptID)
	if err != nil {
		return err
	}
	gw := s.gateways[a.Provider]
	if gw == nil || a.GatewayRef == nil {
		return nil
	}
	return gw.Cancel(ctx, a.ID)
}

// mailsInstructions reports whether a gateway attempt of method gets a mail
// of how to pay it once the gateway answered: virtual accounts and the
// Mandiri bill (a transfer attempt's mail is queued with the attempt).
// Cards and OVO are paid on the spot (a 3-D Secure page, a push in the OVO
// app).
func mailsInstructions(method string) bool {
	switch method {
	case gateway.MethodBCAVA, gateway.MethodBNIVA, gateway.MethodBRIVA, gateway.MethodCIMBVA, gateway.MethodPermataVA, gateway.MethodMandiriBill:
		return true
	}
	return false
}

// walletMethod reports whether method is one of the QR and e-wallet
// methods of Midtrans (QRIS, GoPay, ShopeePay), whose gateway expiry may be
// shorter than the order's deadline.
func walletMethod(method string) bool {
	switch method {
	case gateway.MethodQRIS, gateway.MethodGoPay, gateway.MethodShopeePay:
		return true
	}
	return false
}

// EndOpenAttempts ends every open gateway attempt of an order at its
// gateway before the order's price changes (invoice.PatchOrder, a new
// proof on a rejected order: review.SubmitProof). It cancels each, then asks the gateway what
// became of it: ended → the attempt is cancelled here too; still open (an
// OVO push the customer may yet approve) or paid → a conflict, and the
// price does not change. Money found on the way is recorded as an event,
// so it is applied like any callback.
func (s *Service) EndOpenAttempts(ctx context.Context, orderID string) error {
	o, err := s.orders.GetOrder(ctx, orderID)
	if err != nil {
		return err
	}
	for _, a := range o.Payments {
		if a.Status != order.AttemptPending || a.Provider == gateway.ProviderManual {
			continue
		}
		gw := s.gateways[a.Provider]
		if gw == nil {
			return lunas.E(lunas.KindConflict, "cannot change the price: payment %s (%s) is open and its gateway is not configured here", a.ID, a.Method)
		}
		if err := gw.Cancel(ctx, a.ID); err != nil {
			return lunas.Wrap(lunas.KindGateway, err, "cannot change the price: payment %s (%s) could not be cancelled at the gateway", a.ID, a.Method)
		}
		truth, err := gw.Status(ctx, gateway.Ref{AttemptID: a.ID, TxID: deref(a.GatewayRef)})
		if err != nil {
			return lunas.Wrap(lunas.KindGateway, err, "cannot change the price: the gateway did not say whether payment %s ended", a.ID)
		}
		switch {
		case truth == nil || truth.Status == gateway.StatusFailed:
			ok, err := supersede(ctx, s.pool, a.ID, s.clock.Now())
			if err != nil {
				return store.Unavailable(err)
			}
			if !ok {
				// A callback moved it meanwhile (it may have been paid): the
				// price stays until the order's state is clear.
				return lunas.E(lunas.KindConflict, "cannot change the price: payment %s changed while it was being cancelled; try again", a.ID)
			}
			s.log.Info("open payment cancelled before a re-price", "order_id", orderID, "attempt_id", a.ID, "method", a.Method)
		case truth.Status == gateway.StatusSucceeded || truth.Status == gateway.StatusRefunded:
			if id, err := s.RecordEvent(ctx, *truth); err == nil && id > 0 {
				_ = s.ApplyEvent(ctx, id, task.ApplyID(id)) // the worker retries it if this fails
			}
			return lunas.E(lunas.KindConflict, "cannot change the price: payment %s (%s) was paid at the gateway", a.ID, a.Method)
		default:
			return lunas.E(lunas.KindConflict, "cannot change the price: payment %s (%s) is still open at the gateway (%s) and cannot be cancelled; try again when it has ended", a.ID, a.Method, truth.RawStatus)
		}
	}
	return nil
}
