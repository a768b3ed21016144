package proforma

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/store"
)

// SellerName is the name the documents are issued in; mail signs with it.
func (d *Documents) SellerName() string {
	if d == nil {
		return ""
	}
	return d.seller.Name
}

// Seller is the seller block printed on every invoice.
type Seller struct {
	Name, Address, NPWP string
}

// Documents renders, stores and serves proforma PDFs. It owns the
// documents table: one stored PDF per order and kind, rendered once.
type Documents struct {
	pool         *store.DB
	clock        clock.Clock
	r            *Renderer
	seller       Seller
	loc          *time.Location
	vat, cardFee decimal.Decimal
	payURL       func(orderID string) string
	bank         BankAccount
	// Rendered is called with each render's duration (metrics).
	Rendered func(time.Duration)
}

// Options configures Documents.
type Options struct {
	Pool     *store.DB
	Clock    clock.Clock // the service clock: when a document was rendered
	Renderer *Renderer
	Seller   Seller
	Location *time.Location
	// The rates printed beside the amounts (invoice.Catalog's).
	VATRate, CardFeeRate decimal.Decimal
	// PayURL gives an order's pay page (paylink.Links.PayURL; nil: none
	// printed); Bank is where a manual transfer goes (LUNAS_BANK_ACCOUNT;
	// zero: none printed). An UNPAID proforma prints both under how to pay,
	// so the document itself says how to pay it.
	PayURL func(orderID string) string
	Bank   BankAccount
}

// BankAccount is the seller's account for manual transfers.
type BankAccount struct{ Bank, Number, Holder string }

// NewDocuments returns a document store.
func NewDocuments(o Options) *Documents {
	return &Documents{pool: o.Pool, clock: o.Clock, r: o.Renderer, seller: o.Seller, loc: o.Location, vat: o.VATRate, cardFee: o.CardFeeRate,
		payURL: o.PayURL, bank: o.Bank,
		Rendered: func(time.Duration) {}}
}

// Kinds of document.
const (
	KindUnpaid = "unpaid"
	KindPaid   = "paid"
)

// methodNames are the payment methods as the documents name them. Bank
// and product names (BCA Virtual Account, Mandiri Bill Payment, OVO) are
// proper names and stay as the banks write them.
var methodNames = map[string]map[string]string{
	gateway.MethodBCAVA:          {"id": "BCA Virtual Account", "en": "BCA Virtual Account"},
	gateway.MethodBNIVA:          {"id": "BNI Virtual Account", "en": "BNI Virtual Account"},
	gateway.MethodBRIVA:          {"id": "BRI Virtual Account", "en": "BRI Virtual Account"},
	gateway.MethodCIMBVA:         {"id": "CIMB Niaga Virtual Account", "en": "CIMB Niaga Virtual Account"},
	gateway.MethodPermataVA:      {"id": "Permata Virtual Account", "en": "Permata Virtual Account"},
	gateway.MethodMandiriBill:    {"id": "Mandiri Bill Payment", "en": "Mandiri Bill Payment"},
	gateway.MethodCreditCard:     {"id": "Kartu kredit", "en": "Credit card"},
	gateway.MethodOVO:            {"id": "OVO", "en": "OVO"},
	gateway.MethodManualTransfer: {"id": "Transfer bank", "en": "Bank transfer"},
}

// MethodName is a payment method's display name in English (mail before it
// follows the order's locale; see LocalMethodName).
func MethodName(m string) string { return LocalMethodName(m, "en") }

// LineName is what an order line is called on the PDF and in mail: a
// subscription line's plan name, else the product's name.
func LineName(it order.Item, locale string) string {
	if it.Description != "" {
		return it.Description
	}
	return ProductName(it.Product, locale)
}

// LocalMethodName is a payment method's display name in locale (id when
// unknown): "Kartu kredit", "Transfer bank".
func LocalMethodName(m, locale string) string { return localName(methodNames, m, locale) }

// DataFor builds the printed data of an order's document of kind, every
// name in the order's locale.
func (d *Documents) DataFor(ctx context.Context, o *order.Order, kind string) (Data, error) {
	acct, err := account.Get(ctx, d.pool, o.AccountID)
	if err != nil {
		return Data{}, err
	}
	data := Data{
		Locale: o.Locale, SellerName: d.seller.Name, SellerAddress: d.seller.Address, SellerNPWP: d.seller.NPWP,
		InvoiceNumber: *o.InvoiceNumber, IssuedAt: *o.IssuedAt, Location: d.loc,
		AccountName: acct.Name, AccountID: acct.ID, AccountAddress: acct.Address, AccountNPWP: acct.NPWP,
		Requester: o.Requester.Name, RequesterMail: o.Requester.Email,
		Subtotal: o.Subtotal, VAT: o.VAT, VATRate: d.vat, CardFeeRate: d.cardFee, Total: o.Total,
		TaxBase: o.TaxBase,
	}
	// The order's own rate: 12 % under DPP nilai lain, the configured one
	// in simple mode (and on orders priced before the tax lines existed).
	if !o.VATRate.IsZero() {
		data.VATRate = o.VATRate
	}
	if w := o.Withholding; w != nil {
		data.Withheld, data.WithholdingRate = w.Amount, w.Rate
	}
	if o.ExpiresAt != nil {
		data.ExpiresAt = *o.ExpiresAt
	}
	for _, it := range o.Items {
		data.Lines = append(data.Lines, Line{Description: LineName(it, o.Locale), Quantity: it.Quantity,
			Unit: UnitName(it.Unit, o.Locale), Amount: it.Amount})
		if it.Product == order.ProductSubscription && o.DueDate != nil {
			data.Plan, data.Period = it.Description, deref(it.Period)
			data.DueDate, _ = time.Parse(time.DateOnly, *o.DueDate)
		}
	}
	if kind == KindPaid && o.PaidAt != nil {
		data.Paid, data.PaidAt = true, *o.PaidAt
		for _, a := range o.Payments {
			if o.PaidAttemptID != nil && a.ID == *o.PaidAttemptID {
				data.PaidMethod = LocalMethodName(a.Method, o.Locale)
				if a.GatewayRef != nil {
					data.PaidReference = *a.GatewayRef
				}
				data.CardFee = a.Fee
				data.Total = a.Amount + data.Withheld // the attempt paid the total less the withholding
			}
		}
		data.Refunded = o.RefundedAmount
		return data, nil
	}
	data.Instructions = Instructions(o)
	if !hasTransferLine(o) && d.bank.Number != "" {
		// No transfer attempt is open yet (an UNPAID proforma is made at
		// confirm): the account to transfer to, with the reference.
		f, ok := instructionFormats[o.Locale]
		if !ok {
			f = instructionFormats["id"]
		}
		data.Instructions = append(data.Instructions, fmt.Sprintf(f[2], LocalMethodName(gateway.MethodManualTransfer, o.Locale),
			d.bank.Bank, d.bank.Number, d.bank.Holder, deref(o.InvoiceNumber), Rupiah(o.Payable)))
	}
	if d.payURL != nil {
		data.PayURL = d.payURL(o.ID)
	}
	return data, nil
}

// hasTransferLine tells whether an open manual-transfer attempt already
// prints the account to transfer to.
func hasTransferLine(o *order.Order) bool {
	for _, a := range o.Payments {
		if a.Status == order.AttemptPending && a.Method == gateway.MethodManualTransfer {
			return true
		}
	}
	return false
}

// instructionFormats are the lines of Instructions, by locale: VA, bill,
// manual transfer.
var instructionFormats = map[string][3]string{
	"id": {"%s, nomor VA %v (%s)", "%s: kode perusahaan %v, kode bayar %v (%s)", "%s ke %v %v a.n. %v, berita %s (%s)"},
	"en": {"%s, VA number %v (%s)", "%s: biller code %v, bill key %v (%s)", "%s to %v %v, account holder %v, reference %s (%s)"},
}

// Instructions lists how to pay an unpaid order, in its locale: its open
// attempts' VA numbers, bill keys or bank account.
func Instructions(o *order.Order) []string {
	var out []string
	for _, a := range o.Payments {
		if a.Status != order.AttemptPending {
			continue
		}
		if line := AttemptInstructions(o, a); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// AttemptInstructions is how to pay one attempt, in the order's locale: the
// VA number, the bill key, or the account to transfer to, with the amount;
// "" for methods paid on the spot. The billing mail lists every open
// attempt's; the instructions mail carries one.
func AttemptInstructions(o *order.Order, a order.Attempt) string {
	f, ok := instructionFormats[o.Locale]
	if !ok {
		f = instructionFormats["id"]
	}
	name := LocalMethodName(a.Method, o.Locale)
	switch {
	case a.Details["va_number"] != nil:
		return fmt.Sprintf(f[0], name, a.Details["va_number"], Rupiah(a.Amount))
	case a.Details["bill_key"] != nil:
		return fmt.Sprintf(f[1], name, a.Details["biller_code"], a.Details["bill_key"], Rupiah(a.Amount))
	case a.Method == gateway.MethodManualTransfer:
		if ba, ok := a.Details["bank_account"].(map[string]any); ok {
			return fmt.Sprintf(f[2], name, ba["bank"], ba["number"], ba["holder"], deref(o.InvoiceNumber), Rupiah(a.Amount))
		}
	}
	return ""
}

// Ensure returns the stored document of kind for an order, rendering and
// storing it first when it is missing. Concurrent calls store one document.
func (d *Documents) Ensure(ctx context.Context, orderID, kind string) ([]byte, error) {
	return d.EnsureFor(ctx, orderID, nil, kind)
}

// EnsureFor is Ensure for a caller that has loaded the order already (o may
// be nil).
func (d *Documents) EnsureFor(ctx context.Context, orderID string, o *order.Order, kind string) ([]byte, error) {
	pdf, u, err := d.Load(ctx, orderID, o, kind)
	if err != nil || u == nil {
		return pdf, err
	}
	if _, err := d.pool.Exec(ctx, storeDocument, u.args()...); err != nil {
		return nil, store.Unavailable(err)
	}
	return pdf, nil
}

// Refresh renders the document of kind for an order as the order is now
// and stores it in place of any stored one (the render job after a change
// of the order: a mail rendered before the change may have stored its
// copy after it, first-writer-wins).
func (d *Documents) Refresh(ctx context.Context, orderID, kind string) error {
	o, err := order.Get(ctx, d.pool, orderID)
	if err != nil {
		return err
	}
	u, err := d.render(ctx, o, kind)
	if err != nil {
		return err
	}
	_, err = d.pool.Exec(ctx, `INSERT INTO documents (order_id, kind, pdf, sha256, rendered_at) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (order_id, kind) DO UPDATE SET pdf = EXCLUDED.pdf, sha256 = EXCLUDED.sha256, rendered_at = EXCLUDED.rendered_at`, u.args()...)
	return store.Unavailable(err)
}

// Unstored is a document Load rendered and did not store: the caller
// stores it with StoreIn in its own batch.
type Unstored struct {
	orderID, kind string
	pdf           []byte
	sum           string
	at            time.Time
}

func (u *Unstored) args() []any { return []any{u.orderID, u.kind, u.pdf, u.sum, u.at} }

const storeDocument = `INSERT INTO documents (order_id, kind, pdf, sha256, rendered_at) VALUES ($1,$2,$3,$4,$5)
	ON CONFLICT (order_id, kind) DO NOTHING`

// StoreIn queues the store of u on the caller's batch (first writer wins,
// as in EnsureFor). The mail task stores the proforma it attaches in the
// batch that records the mail sent: one commit fewer per mail, which at
// month start is a third of the mail pool's commits.
func StoreIn(b *pgx.Batch, u *Unstored) {
	if u != nil {
		b.Queue(storeDocument, u.args()...)
	}
}

// Load returns the stored document of kind for an order, or renders it
// and returns it with u, the document to store (StoreIn), when none is
// stored. o may be nil (Load reads the order then).
func (d *Documents) Load(ctx context.Context, orderID string, o *order.Order, kind string) (pdf []byte, u *Unstored, err error) {
	err = d.pool.QueryRow(ctx, `SELECT pdf FROM documents WHERE order_id = $1 AND kind = $2`, orderID, kind).Scan(&pdf)
	if err == nil {
		return pdf, nil, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, store.Unavailable(err)
	}
	if o == nil {
		if o, err = order.Get(ctx, d.pool, orderID); err != nil {
			return nil, nil, err
		}
	}
	u, err = d.render(ctx, o, kind)
	if err != nil {
		return nil, nil, err
	}
	return u.pdf, u, nil
}

// render draws order o's document of kind.
func (d *Documents) render(ctx context.Context, o *order.Order, kind string) (*Unstored, error) {
	if o.InvoiceNumber == nil {
		return nil, lunas.E(lunas.KindNotFound, "order %s has no invoice yet (confirm it first)", o.ID)
	}
	if kind == KindPaid && !o.Paid() {
		return nil, lunas.E(lunas.KindNotFound, "order %s is not paid", o.ID)
	}
	data, err := d.DataFor(ctx, o, kind)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	pdf, err := d.r.Render(data)
	if err != nil {
		return nil, err
	}
	d.Rendered(time.Since(start))
	sum := sha256.Sum256(pdf)
	return &Unstored{orderID: o.ID, kind: kind, pdf: pdf, sum: hex.EncodeToString(sum[:]), at: d.clock.Now()}, nil
}

// Current returns the document that describes the order now: PAID once it
// is paid, UNPAID before. 404 before confirm.
func (d *Documents) Current(ctx context.Context, orderID string) ([]byte, error) {
	o, err := order.Get(ctx, d.pool, orderID)
	if err != nil {
		return nil, err
	}
	if o.InvoiceNumber == nil {
		return nil, lunas.E(lunas.KindNotFound, "order %s has no invoice yet (confirm it first)", orderID)
	}
	kind := KindUnpaid
	if o.Paid() {
		kind = KindPaid
	}
	return d.Ensure(ctx, orderID, kind)
}

// Discard drops order orderID's stored document of kind in tx, the
// transaction that changed what it would show (invoice.PatchOrder drops
// the UNPAID proforma of an old price); the next Ensure renders it anew.
func Discard(ctx context.Context, tx pgx.Tx, orderID, kind string) error {
	_, err := tx.Exec(ctx, `DELETE FROM documents WHERE order_id = $1 AND kind = $2`, orderID, kind)
	return err
}

// Signer signs and checks expiring links to an order's PDF. Links expire
// on the service clock: the clock that issues them (For) is the one that
// checks them (Valid), so a test clock moved by days expires them too.
type Signer struct {
	key   []byte
	clock clock.Clock
}

// NewSigner returns a signer with key on the service clock c.
func NewSigner(key string, c clock.Clock) Signer { return Signer{key: []byte(key), clock: c} }

func (s Signer) mac(orderID string, exp int64) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(orderID))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// Query is the signed query string (without '?') for orderID valid until
// exp (sending fixes exp by its business day, so a message sent twice on
// one day is the same).
func (s Signer) Query(orderID string, exp time.Time) string {
	e := exp.Unix()
	return "expires=" + strconv.FormatInt(e, 10) + "&sig=" + s.mac(orderID, e)
}

// For is the signed query string for orderID valid for ttl from now on the
// service clock (mail's links).
func (s Signer) For(orderID string, ttl time.Duration) string {
	return s.Query(orderID, s.clock.Now().Add(ttl))
}

// Valid reports whether sig signs orderID until expires and the service
// clock's now is before it (api checks every link with it).
func (s Signer) Valid(orderID, expires, sig string) bool {
	e, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || sig == "" {
		return false
	}
	ok := hmac.Equal([]byte(s.mac(orderID, e)), []byte(sig))
	return ok && s.clock.Now().Unix() < e
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
