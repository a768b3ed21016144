package api

import (
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/invoice"
)

// orderView is the order object of API.md.
type orderView struct {
	ID            string            `json:"id"`
	AccountID     string            `json:"account_id"`
	Status        string            `json:"status"`
	StatusReason  *string           `json:"status_reason,omitempty"`
	Requester     invoice.Requester `json:"requester"`
	Locale        string            `json:"locale"`
	Currency      string            `json:"currency"`
	Items         []invoice.Item    `json:"items"`
	Subtotal      int64             `json:"subtotal"`
	VAT           int64             `json:"vat"`
	Total         int64             `json:"total"`
	InvoiceNumber *string           `json:"invoice_number"`
	IssuedAt      *string           `json:"issued_at"`
	ExpiresAt     *string           `json:"expires_at"`
	PaidAt        *string           `json:"paid_at"`
	ProformaURL   *string           `json:"proforma_url"`
	Payments      []attemptView     `json:"payments"`
	CreatedAt     string            `json:"created_at"`
	UpdatedAt     string            `json:"updated_at"`
}

type attemptView struct {
	ID          string  `json:"id"`
	Method      string  `json:"method"`
	Status      string  `json:"status"`
	Amount      int64   `json:"amount"`
	Fee         int64   `json:"fee"`
	Currency    string  `json:"currency"`
	ExpiresAt   *string `json:"expires_at"`
	FailureCode *string `json:"failure_code,omitempty"`
	Reference   *string `json:"gateway_reference,omitempty"`
	Bank        any     `json:"bank,omitempty"`
	VANumber    any     `json:"va_number,omitempty"`
	BillerCode  any     `json:"biller_code,omitempty"`
	BillKey     any     `json:"bill_key,omitempty"`
	RedirectURL any     `json:"redirect_url,omitempty"`
	Phone       any     `json:"phone,omitempty"`
	BankAccount any     `json:"bank_account,omitempty"`
	PaymentRef  any     `json:"payment_reference,omitempty"`
	GatewayMsg  any     `json:"gateway_message,omitempty"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
}

func (s *Server) ts(t time.Time) string { return t.In(s.Location).Format(time.RFC3339) }

func (s *Server) tsp(t *time.Time) *string {
	if t == nil {
		return nil
	}
	v := s.ts(*t)
	return &v
}

func (s *Server) orderView(o *invoice.Order) orderView {
	v := orderView{
		ID: o.ID, AccountID: o.AccountID, Status: o.Status, StatusReason: o.StatusReason, Requester: o.Requester,
		Locale: o.Locale, Currency: o.Currency, Items: o.Items, Subtotal: o.Subtotal, VAT: o.VAT, Total: o.Total,
		InvoiceNumber: o.InvoiceNumber, IssuedAt: s.tsp(o.IssuedAt), ExpiresAt: s.tsp(o.ExpiresAt), PaidAt: s.tsp(o.PaidAt),
		Payments: []attemptView{}, CreatedAt: s.ts(o.CreatedAt), UpdatedAt: s.ts(o.UpdatedAt),
	}
	if v.Items == nil {
		v.Items = []invoice.Item{}
	}
	if o.InvoiceNumber != nil {
		u := s.PublicURL + "/v1/orders/" + o.ID + "/proforma.pdf"
		v.ProformaURL = &u
	}
	for _, a := range o.Payments {
		v.Payments = append(v.Payments, s.attemptView(&a))
	}
	return v
}

func (s *Server) attemptView(a *invoice.Attempt) attemptView {
	d := a.Details
	return attemptView{
		ID: a.ID, Method: a.Method, Status: a.Status, Amount: a.Amount, Fee: a.Fee, Currency: "IDR",
		ExpiresAt: s.tsp(a.ExpiresAt), FailureCode: a.FailureCode, Reference: a.GatewayRef,
		Bank: d["bank"], VANumber: d["va_number"], BillerCode: d["biller_code"], BillKey: d["bill_key"],
		RedirectURL: d["redirect_url"], Phone: d["phone"], BankAccount: d["bank_account"], PaymentRef: d["reference"],
		GatewayMsg: d["gateway_message"], CreatedAt: s.ts(a.CreatedAt), UpdatedAt: s.ts(a.UpdatedAt),
	}
}

func fieldErr(field, msg string) []lunas.FieldError {
	return []lunas.FieldError{{Field: field, Message: msg}}
}
