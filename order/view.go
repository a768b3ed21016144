package order

import (
	"encoding/json"
	"time"

	"github.com/lunas-id/lunas/paylink"
)

// View is the order object of API.md, as the API answers it and as the
// order.* events to the app carry it: one rendering for both (api and
// webhook call NewView), times in the business zone.
type View struct {
	ID            string    `json:"id"`
	AccountID     string    `json:"account_id"`
	Status        Status    `json:"status"`
	StatusReason  *string   `json:"status_reason,omitempty"`
	Requester     Requester `json:"requester"`
	Locale        string    `json:"locale"`
	Currency      string    `json:"currency"`
	Items         []Item    `json:"items"`
	Subtotal      int64     `json:"subtotal"`
	VAT           int64     `json:"vat"`
	Total         int64     `json:"total"`
	InvoiceNumber *string   `json:"invoice_number"`
	IssuedAt      *string   `json:"issued_at"`
	ExpiresAt     *string   `json:"expires_at"`
	PaidAt        *string   `json:"paid_at"`
	Refunded      int64     `json:"refunded_amount"`
	// A subscription invoice's subscription and due date (null otherwise).
	SubscriptionID *string `json:"subscription_id"`
	DueDate        *string `json:"due_date"`
	ProformaURL    *string `json:"proforma_url"`
	// PayURL is the pay page (null before confirm): see package paylink.
	PayURL    *string       `json:"pay_url"`
	Payments  []AttemptView `json:"payments"`
	CreatedAt string        `json:"created_at"`
	UpdatedAt string        `json:"updated_at"`
	// The tax lines (API.md "Tax", issue 25): the DPP and rate of the
	// VAT, the PPh 23 the buyer withholds (null: none), what the attempts
	// charge, and the number Coretax gave its tax invoice.
	TaxBase     int64            `json:"tax_base"`
	VATRate     json.Number      `json:"vat_rate"`
	Withholding *WithholdingView `json:"withholding"`
	Payable     int64            `json:"payable"`
	TaxInvoice  TaxInvoiceView   `json:"tax_invoice"`
}

// WithholdingView is an order's withholding as the API shows it: rates
// are JSON numbers (0.02), as API.md writes them.
type WithholdingView struct {
	Kind   string            `json:"kind"`
	Rate   json.Number       `json:"rate"`
	Base   int64             `json:"base"`
	Amount int64             `json:"amount"`
	Status WithholdingStatus `json:"status"`
}

// TaxInvoiceView is what is known of an order's tax invoice in Coretax.
type TaxInvoiceView struct {
	Number *string `json:"number"`
}

// AttemptView is a payment attempt as the API shows it.
type AttemptView struct {
	ID          string        `json:"id"`
	Method      string        `json:"method"`
	Status      AttemptStatus `json:"status"`
	Amount      int64         `json:"amount"`
	Fee         int64         `json:"fee"`
	Refunded    int64         `json:"refunded_amount"`
	Currency    string        `json:"currency"`
	ExpiresAt   *string       `json:"expires_at"`
	FailureCode *string       `json:"failure_code,omitempty"`
	Reference   *string       `json:"gateway_reference,omitempty"`
	Bank        any           `json:"bank,omitempty"`
	VANumber    any           `json:"va_number,omitempty"`
	BillerCode  any           `json:"biller_code,omitempty"`
	BillKey     any           `json:"bill_key,omitempty"`
	RedirectURL any           `json:"redirect_url,omitempty"`
	Phone       any           `json:"phone,omitempty"`
	BankAccount any           `json:"bank_account,omitempty"`
	PaymentRef  any           `json:"payment_reference,omitempty"`
	GatewayMsg  any           `json:"gateway_message,omitempty"`
	// QRIS, GoPay, ShopeePay: the EMVCo payload, lunas's PNG of the QR
	// (its URL is its credential), the wallet app's deeplink.
	QRString    any     `json:"qr_string,omitempty"`
	QRURL       *string `json:"qr_url,omitempty"`
	DeeplinkURL any     `json:"deeplink_url,omitempty"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
}

// Timestamp renders t as API.md's times: RFC 3339 in the business zone.
func Timestamp(t time.Time, loc *time.Location) string { return t.In(loc).Format(time.RFC3339) }

func timestampPtr(t *time.Time, loc *time.Location) *string {
	if t == nil {
		return nil
	}
	v := Timestamp(*t, loc)
	return &v
}

// NewView renders an order; links sign its pay page and QR images, and
// their public URL is the base of its proforma link.
func NewView(o *Order, loc *time.Location, links paylink.Links) View {
	publicURL := links.PublicURL()
	v := View{
		ID: o.ID, AccountID: o.AccountID, Status: o.Status, StatusReason: o.StatusReason, Requester: o.Requester,
		Locale: o.Locale, Currency: o.Currency, Items: o.Items, Subtotal: o.Subtotal, VAT: o.VAT, Total: o.Total,
		InvoiceNumber: o.InvoiceNumber, IssuedAt: timestampPtr(o.IssuedAt, loc), ExpiresAt: timestampPtr(o.ExpiresAt, loc),
		PaidAt: timestampPtr(o.PaidAt, loc), Refunded: o.RefundedAmount,
		SubscriptionID: o.SubscriptionID, DueDate: o.DueDate,
		Payments: []AttemptView{}, CreatedAt: Timestamp(o.CreatedAt, loc), UpdatedAt: Timestamp(o.UpdatedAt, loc),
		TaxBase: o.TaxBase, VATRate: json.Number(o.VATRate.String()), Payable: o.Payable,
		TaxInvoice: TaxInvoiceView{Number: o.TaxInvoiceNumber},
	}
	if w := o.Withholding; w != nil {
		v.Withholding = &WithholdingView{Kind: w.Kind, Rate: json.Number(w.Rate.String()), Base: w.Base, Amount: w.Amount, Status: w.Status}
	}
	if v.Items == nil {
		v.Items = []Item{}
	}
	if o.InvoiceNumber != nil {
		u := publicURL + "/v1/orders/" + o.ID + "/proforma.pdf"
		v.ProformaURL = &u
		p := links.PayURL(o.ID)
		v.PayURL = &p
	}
	for _, a := range o.Payments {
		v.Payments = append(v.Payments, NewAttemptView(&a, loc, links))
	}
	return v
}

// NewAttemptView renders a payment attempt; links sign its qr_url.
func NewAttemptView(a *Attempt, loc *time.Location, links paylink.Links) AttemptView {
	d := a.Details
	var qrURL *string
	// lunas serves the QR of a QRIS payload, and GoPay's (the gateway's
	// image, fetched by lunas) so the payer's browser needs no Midtrans
	// origin.
	if d["qr_string"] != nil || d["qr_image_url"] != nil {
		u := links.QRURL(a.OrderID, a.ID)
		qrURL = &u
	}
	return AttemptView{
		QRString: d["qr_string"], QRURL: qrURL, DeeplinkURL: d["deeplink_url"],
		ID: a.ID, Method: a.Method, Status: a.Status, Amount: a.Amount, Fee: a.Fee, Refunded: a.Refunded, Currency: "IDR",
		ExpiresAt: timestampPtr(a.ExpiresAt, loc), FailureCode: a.FailureCode, Reference: a.GatewayRef,
		Bank: d["bank"], VANumber: d["va_number"], BillerCode: d["biller_code"], BillKey: d["bill_key"],
		RedirectURL: d["redirect_url"], Phone: d["phone"], BankAccount: d["bank_account"], PaymentRef: d["reference"],
		GatewayMsg: d["gateway_message"], CreatedAt: Timestamp(a.CreatedAt, loc), UpdatedAt: Timestamp(a.UpdatedAt, loc),
	}
}
