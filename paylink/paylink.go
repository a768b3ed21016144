// Package paylink makes and checks the links a payer follows without a
// bearer token: the pay page of one order (/pay/{token}) and the QR images
// of its attempts (/pay/{token}/qr/{attempt_id}.png, under the page's
// path, so the page's token is their only credential).
//
// A token is the order id and an HMAC-SHA256 of it under
// LUNAS_SIGNING_KEY (192 bits kept), so it needs no table: the same order
// always has the same pay_url, every mail and WhatsApp message about it
// can carry it, and a changed character anywhere makes it name no order
// (the page answers 404). It does not expire on its own: the order's state
// (paid, expired, cancelled) decides what the page offers.
package paylink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// macBytes is how much of the HMAC a token keeps: 192 bits, above the 128
// API.md asks for.
const macBytes = 24

// Links signs pay links for one deployment.
type Links struct {
	key       []byte
	publicURL string
}

// New returns Links signing with key, their URLs under publicURL
// (LUNAS_PUBLIC_URL, without a trailing slash).
func New(key, publicURL string) Links {
	return Links{key: []byte(key), publicURL: strings.TrimRight(publicURL, "/")}
}

func (l Links) mac(orderID string) string {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte("lunas pay page\x00"))
	m.Write([]byte(orderID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:macBytes])
}

// Token is the pay page token of orderID.
func (l Links) Token(orderID string) string { return orderID + "." + l.mac(orderID) }

// OrderID checks token in constant time and returns the order it names;
// ok is false for a token this deployment did not sign.
func (l Links) OrderID(token string) (string, bool) {
	id, sig, found := strings.Cut(token, ".")
	if !found || id == "" || len(l.key) == 0 {
		return "", false
	}
	return id, hmac.Equal([]byte(sig), []byte(l.mac(id)))
}

// PayURL is the pay page of orderID.
func (l Links) PayURL(orderID string) string { return l.publicURL + "/pay/" + l.Token(orderID) }

// QRURL is the PNG of an attempt's QR code, under its order's pay page.
func (l Links) QRURL(orderID, attemptID string) string {
	return l.PayURL(orderID) + "/qr/" + attemptID + ".png"
}

// PublicURL is the base every link is under.
func (l Links) PublicURL() string { return l.publicURL }

// IsZero reports whether l was never made with New (an unset option).
func (l Links) IsZero() bool { return l.key == nil && l.publicURL == "" }
