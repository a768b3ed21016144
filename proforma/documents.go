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
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/store"
)

// Seller is the seller block printed on every invoice.
type Seller struct {
	Name, Address, NPWP string
}

// Documents renders, stores and serves proforma PDFs.
type Documents struct {
	pool    *pgxpool.Pool
	orders  *invoice.Service
	r       *Renderer
	seller  Seller
	loc     *time.Location
	catalog invoice.Catalog
	// Rendered is called with each render's duration (metrics).
	Rendered func(time.Duration)
}

// NewDocuments returns a document store.
func NewDocuments(pool *pgxpool.Pool, orders *invoice.Service, r *Renderer, seller Seller, loc *time.Location) *Documents {
	return &Documents{pool: pool, orders: orders, r: r, seller: seller, loc: loc, catalog: orders.Catalog(), Rendered: func(time.Duration) {}}
}

// Kinds of document.
const (
	KindUnpaid = "unpaid"
	KindPaid   = "paid"
)

var methodNames = map[string]string{
	gateway.MethodBCAVA: "BCA Virtual Account", gateway.MethodBNIVA: "BNI Virtual Account", gateway.MethodBRIVA: "BRI Virtual Account",
	gateway.MethodCIMBVA: "CIMB Niaga Virtual Account", gateway.MethodPermataVA: "Permata Virtual Account",
	gateway.MethodMandiriBill: "Mandiri Bill Payment", gateway.MethodCreditCard: "Credit card", gateway.MethodOVO: "OVO",
	gateway.MethodManualTransfer: "Bank transfer",
}

// MethodName is a payment method's display name.
func MethodName(m string) string {
	if n, ok := methodNames[m]; ok {
		return n
	}
	return m
}

func pct(d decimal.Decimal) string { return d.Mul(decimal.NewFromInt(100)).String() + "%" }

// DataFor builds the printed data of an order's document of kind.
func (d *Documents) DataFor(ctx context.Context, o *invoice.Order, kind string) (Data, error) {
	acct, err := d.orders.GetAccount(ctx, o.AccountID)
	if err != nil {
		return Data{}, err
	}
	data := Data{
		Locale: o.Locale, SellerName: d.seller.Name, SellerAddress: d.seller.Address, SellerNPWP: d.seller.NPWP,
		InvoiceNumber: *o.InvoiceNumber, IssuedAt: *o.IssuedAt, ExpiresAt: *o.ExpiresAt, Location: d.loc,
		AccountName: acct.Name, AccountID: acct.ID, AccountNPWP: acct.NPWP,
		Requester: o.Requester.Name, RequesterMail: o.Requester.Email,
		Subtotal: o.Subtotal, VAT: o.VAT, VATRate: pct(d.catalog.VATRate), CardFeeRate: pct(d.catalog.CardFeeRate), Total: o.Total,
	}
	for _, it := range o.Items {
		data.Lines = append(data.Lines, Line{Description: ProductName(it.Product, o.Locale), Quantity: it.Quantity, Unit: it.Unit, Amount: it.Amount})
	}
	if kind == KindPaid && o.PaidAt != nil {
		data.Paid, data.PaidAt = true, *o.PaidAt
		for _, a := range o.Payments {
			if o.PaidAttemptID != nil && a.ID == *o.PaidAttemptID {
				data.PaidMethod = MethodName(a.Method)
				if a.GatewayRef != nil {
					data.PaidReference = *a.GatewayRef
				}
				data.CardFee = a.Fee
				data.Total = a.Amount
			}
		}
		return data, nil
	}
	data.Instructions = Instructions(o)
	return data, nil
}

// Instructions lists how to pay an unpaid order: its open attempts' VA
// numbers, bill keys or bank account.
func Instructions(o *invoice.Order) []string {
	var out []string
	for _, a := range o.Payments {
		if a.Status != invoice.AttemptPending {
			continue
		}
		switch {
		case a.Details["va_number"] != nil:
			out = append(out, fmt.Sprintf("%s: %v (%s)", MethodName(a.Method), a.Details["va_number"], Rupiah(a.Amount)))
		case a.Details["bill_key"] != nil:
			out = append(out, fmt.Sprintf("%s: biller code %v, bill key %v (%s)", MethodName(a.Method), a.Details["biller_code"], a.Details["bill_key"], Rupiah(a.Amount)))
		case a.Method == gateway.MethodManualTransfer:
			if ba, ok := a.Details["bank_account"].(map[string]any); ok {
				out = append(out, fmt.Sprintf("%s: %v %v a.n. %v, ref %s (%s)", MethodName(a.Method), ba["bank"], ba["number"], ba["holder"], *o.InvoiceNumber, Rupiah(a.Amount)))
			}
		}
	}
	return out
}

// Ensure returns the stored document of kind for an order, rendering and
// storing it first when it is missing. Concurrent calls store one document.
func (d *Documents) Ensure(ctx context.Context, orderID, kind string) ([]byte, error) {
	return d.EnsureFor(ctx, orderID, nil, kind)
}

// EnsureFor is Ensure for a caller that has loaded the order already (o may
// be nil): the mail task, which needs the order for the mail itself.
func (d *Documents) EnsureFor(ctx context.Context, orderID string, o *invoice.Order, kind string) ([]byte, error) {
	var pdf []byte
	err := d.pool.QueryRow(ctx, `SELECT pdf FROM documents WHERE order_id = $1 AND kind = $2`, orderID, kind).Scan(&pdf)
	if err == nil {
		return pdf, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, store.Unavailable(err)
	}
	if o == nil {
		if o, err = d.orders.GetOrder(ctx, orderID); err != nil {
			return nil, err
		}
	}
	if o.InvoiceNumber == nil {
		return nil, lunas.E(lunas.KindNotFound, "order %s has no invoice yet (confirm it first)", orderID)
	}
	if kind == KindPaid && o.Status != invoice.StatusPaid {
		return nil, lunas.E(lunas.KindNotFound, "order %s is not paid", orderID)
	}
	data, err := d.DataFor(ctx, o, kind)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	pdf, err = d.r.Render(data)
	if err != nil {
		return nil, err
	}
	d.Rendered(time.Since(start))
	sum := sha256.Sum256(pdf)
	_, err = d.pool.Exec(ctx, `INSERT INTO documents (order_id, kind, pdf, sha256, rendered_at) VALUES ($1,$2,$3,$4,now())
		ON CONFLICT (order_id, kind) DO NOTHING`, orderID, kind, pdf, hex.EncodeToString(sum[:]))
	if err != nil {
		return nil, store.Unavailable(err)
	}
	return pdf, nil
}

// Current returns the document that describes the order now: PAID once it
// is paid, UNPAID before. 404 before confirm.
func (d *Documents) Current(ctx context.Context, orderID string) ([]byte, error) {
	o, err := d.orders.GetOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.InvoiceNumber == nil {
		return nil, lunas.E(lunas.KindNotFound, "order %s has no invoice yet (confirm it first)", orderID)
	}
	kind := KindUnpaid
	if o.Status == invoice.StatusPaid {
		kind = KindPaid
	}
	return d.Ensure(ctx, orderID, kind)
}

// Signer signs and checks expiring links to an order's PDF.
type Signer struct{ key []byte }

// NewSigner returns a signer with key.
func NewSigner(key string) Signer { return Signer{key: []byte(key)} }

func (s Signer) mac(orderID string, exp int64) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(orderID))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// Query is the signed query string (without '?') for orderID valid until exp.
func (s Signer) Query(orderID string, exp time.Time) string {
	e := exp.Unix()
	return "expires=" + strconv.FormatInt(e, 10) + "&sig=" + s.mac(orderID, e)
}

// Valid reports whether sig signs orderID until expires and now is before it.
func (s Signer) Valid(orderID, expires, sig string, now time.Time) bool {
	e, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || sig == "" {
		return false
	}
	ok := hmac.Equal([]byte(s.mac(orderID, e)), []byte(sig))
	return ok && now.Unix() < e
}
