package people

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP as API.md fixes it: RFC 6238 with SHA-1, a 30 s step and 6 digits
// (what every authenticator app defaults to), one step of skew either way
// for a phone's clock drift and the time it takes to type.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	totpSkew   = 1
	// secretBytes is RFC 4226 §4's recommended 160-bit shared secret.
	secretBytes = 20
	// RecoveryCodes is how many one-time recovery codes an enrolment gives.
	RecoveryCodes = 10
)

// b32 is unpadded standard base32, as authenticators write secrets.
func b32() *base32.Encoding { return base32.StdEncoding.WithPadding(base32.NoPadding) }

// newTOTPKey makes a fresh secret for email and its otpauth:// URL.
func newTOTPKey(issuer, email string) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: email, Period: totpPeriod,
		SecretSize: secretBytes, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}

// validSecret reports whether s is a base32 secret of at least 160 bits,
// so a tampered form cannot enrol a guessable one.
func validSecret(s string) bool {
	b, err := b32().DecodeString(strings.ToUpper(strings.TrimRight(s, "=")))
	return err == nil && len(b) >= secretBytes
}

// totpStep returns the time step (RFC 6238 T) of the code that matches
// among now's step and its neighbours, or false. The comparison of each
// candidate is constant-time.
func totpStep(secret, code string, now time.Time) (int64, bool) {
	if len(code) != totpDigits.Length() {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	var found int64
	ok := 0
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		want, err := hotp.GenerateCodeCustom(secret, uint64(cur+d), hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && ok == 0 {
			found, ok = cur+d, 1
		}
	}
	return found, ok == 1
}

// normalizeCode drops the spaces and dashes people type or paste with a
// code, and lower-cases it (recovery codes are case-insensitive).
func normalizeCode(code string) string {
	return strings.ToLower(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(strings.TrimSpace(code)))
}

// isTOTPCode reports whether a normalised code looks like a TOTP code
// (digits only) rather than a recovery code.
func isTOTPCode(code string) bool {
	if code == "" {
		return false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// newRecoveryCode is 80 random bits as 16 lower-case base32 characters in
// groups of four (xxxx-xxxx-xxxx-xxxx): too many to guess, so a plain
// SHA-256 of it is a safe thing to store.
func newRecoveryCode() string {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	s := strings.ToLower(b32().EncodeToString(b))
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// recoveryHash is what is stored of a recovery code: SHA-256 of the user
// id and the normalised code (the id keeps equal codes of two users apart).
func recoveryHash(userID, code string) []byte {
	h := sha256.Sum256([]byte(userID + "\x00" + normalizeCode(code)))
	return h[:]
}

// QRCodePNG renders an otpauth:// URL (WelcomeView.OTPAuthURL) as a PNG QR
// code of size×size pixels, for the welcome page to show beside the
// secret.
func QRCodePNG(otpauthURL string, size int) ([]byte, error) {
	key, err := otp.NewKeyFromURL(otpauthURL)
	if err != nil {
		return nil, err
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
