package people

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/lunas-id/lunas"
)

func TestRolesAndActions(t *testing.T) {
	t.Parallel()
	// The matrix of API.md: who may do what.
	want := map[Action]Role{
		ActionView:         RoleViewer,
		ActionReviewProofs: RoleReviewer, ActionResolveEvents: RoleReviewer, ActionBulkSend: RoleReviewer,
		ActionAdjust: RoleApprover, ActionReconcile: RoleApprover, ActionRefund: RoleApprover, ActionApprove: RoleApprover,
		ActionManageUsers: RoleAdmin, ActionManageWebhooks: RoleAdmin, ActionManagePlans: RoleAdmin, ActionViewAudit: RoleAdmin,
	}
	if len(Actions()) != len(want) {
		t.Fatalf("Actions() has %d actions, the matrix %d", len(Actions()), len(want))
	}
	for _, a := range Actions() {
		min, ok := a.MinRole()
		if !ok || min != want[a] {
			t.Errorf("%s: min role %q %v, want %q", a, min, ok, want[a])
		}
		for _, r := range Roles() {
			if got, exp := r.Can(a), r.rank() >= want[a].rank(); got != exp {
				t.Errorf("%s.Can(%s) = %v, want %v", r, a, got, exp)
			}
		}
	}
	if RoleAdmin.Can("delete_everything") || Role("root").Can(ActionView) || Role("").Can(ActionView) {
		t.Error("an unknown action or role was allowed")
	}
	for _, r := range Roles() {
		if r.NeedsTOTP() != (r == RoleApprover || r == RoleAdmin) {
			t.Errorf("%s.NeedsTOTP() = %v", r, r.NeedsTOTP())
		}
		if p, err := ParseRole(string(r)); err != nil || p != r {
			t.Errorf("ParseRole(%s) = %v, %v", r, p, err)
		}
	}
	if _, err := ParseRole("Admin"); lunas.KindOf(err) != lunas.KindInvalid {
		t.Errorf("ParseRole(Admin): %v", err)
	}
	if !RoleAdmin.AtLeast(RoleApprover) || RoleReviewer.AtLeast(RoleApprover) {
		t.Error("roles are not ordered")
	}
}

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	phc := hashPassword("correct horse battery staple", DefaultArgon2())
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(phc) {
		t.Fatalf("not a PHC argon2id string: %s", phc)
	}
	if !verifyPassword(phc, "correct horse battery staple") {
		t.Error("the right password does not verify")
	}
	for _, bad := range []string{"", "correct horse battery stapl", "Correct horse battery staple"} {
		if verifyPassword(phc, bad) {
			t.Errorf("%q verified", bad)
		}
	}
	if other := hashPassword("correct horse battery staple", DefaultArgon2()); other == phc {
		t.Error("two hashes of one password are equal: no salt")
	}
	// A hash keeps its own parameters: one made with other costs verifies.
	cheap := hashPassword("another fine password", Argon2Params{Memory: 64, Time: 1, Threads: 1})
	if !strings.Contains(cheap, "m=64,t=1,p=1") || !verifyPassword(cheap, "another fine password") {
		t.Errorf("a hash with its own parameters does not verify: %s", cheap)
	}
	for _, broken := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		strings.Replace(phc, "v=19", "v=16", 1), phc[:len(phc)-4], strings.Replace(phc, "m=19456", "m=0", 1)} {
		if verifyPassword(broken, "correct horse battery staple") {
			t.Errorf("a malformed hash verified: %q", broken)
		}
	}
}

func fields(err error) []string {
	var ve *lunas.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	for _, f := range ve.Fields {
		out = append(out, f.Field+": "+f.Message)
	}
	sort.Strings(out)
	return out
}

func TestPasswordPolicy(t *testing.T) {
	t.Parallel()
	common := loadCommon()
	if len(common) < 4000 {
		t.Fatalf("the common-password list has %d entries", len(common))
	}
	for _, p := range []string{"1qaz2wsx3edc", "qwerty123456", "123qweasdzxc", "motherfucker"} {
		if _, ok := common[p]; !ok {
			t.Errorf("%q is not in the common list", p)
		}
	}
	check := func(email, pw, confirm string) []string {
		var v lunas.ValidationError
		checkPassword(&v, common, email, pw, confirm)
		return fields(v.Err())
	}
	cases := []struct {
		name, email, pw, confirm string
		want                     []string // field names of the errors, in order of fields()
	}{
		{"good", "rina@lunas.id", "tiga kucing makan nasi", "tiga kucing makan nasi", nil},
		{"short", "rina@lunas.id", "short pw", "short pw", []string{"password"}},
		{"eleven characters", "rina@lunas.id", "abcdefghijk", "abcdefghijk", []string{"password"}},
		{"twelve multibyte characters", "rina@lunas.id", "ééééééééééé€", "ééééééééééé€", nil},
		{"mismatch", "rina@lunas.id", "tiga kucing makan nasi", "tiga kucing makan nasi!", []string{"password_confirm"}},
		{"common, any case", "rina@lunas.id", "QWERTY123456", "QWERTY123456", []string{"password"}},
		{"local part", "rina.s@lunas.id", "my name is RINA.S ok", "my name is RINA.S ok", []string{"password"}},
		{"short local part not checked", "ab@lunas.id", "abcabcabcabcx", "abcabcabcabcx", nil},
		{"everything at once", "qwerty@lunas.id", "qwerty", "qwerty1", []string{"password", "password", "password_confirm"}},
		{"empty", "rina@lunas.id", "", "", []string{"password"}},
	}
	for _, c := range cases {
		got := check(c.email, c.pw, c.confirm)
		var names []string
		for _, g := range got {
			names = append(names, strings.SplitN(g, ":", 2)[0])
		}
		if strings.Join(names, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: errors %q, want fields %v", c.name, got, c.want)
		}
	}
}

func TestTOTPStep(t *testing.T) {
	t.Parallel()
	key, err := newTOTPKey("lunas", "rina@lunas.id")
	if err != nil {
		t.Fatal(err)
	}
	u := key.URL()
	for _, part := range []string{"otpauth://totp/lunas:rina@lunas.id?", "issuer=lunas", "algorithm=SHA1", "digits=6", "period=30"} {
		if !strings.Contains(u, part) {
			t.Errorf("otpauth URL %s lacks %s", u, part)
		}
	}
	if !validSecret(key.Secret()) || validSecret("JBSWY3DPEHPK3PXP") || validSecret("not base32!") {
		t.Error("validSecret")
	}
	now := time.Date(2026, 5, 1, 10, 0, 15, 0, time.UTC)
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(key.Secret(), at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cur := now.Unix() / 30
	for d := int64(-1); d <= 1; d++ {
		step, ok := totpStep(key.Secret(), code(now.Add(time.Duration(d)*30*time.Second)), now)
		if !ok || step != cur+d {
			t.Errorf("skew %d: step %d %v, want %d", d, step, ok, cur+d)
		}
	}
	for _, d := range []int64{-2, 2} {
		if _, ok := totpStep(key.Secret(), code(now.Add(time.Duration(d)*30*time.Second)), now); ok {
			t.Errorf("a code %d steps away was accepted", d)
		}
	}
	if _, ok := totpStep(key.Secret(), "", now); ok {
		t.Error("an empty code was accepted")
	}
	png, err := QRCodePNG(u, 200)
	if err != nil || len(png) < 100 || string(png[1:4]) != "PNG" {
		t.Errorf("QRCodePNG: %d bytes, %v", len(png), err)
	}
}

func TestRecoveryCodesAndActors(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		c := newRecoveryCode()
		if !regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`).MatchString(c) || seen[c] {
			t.Fatalf("recovery code %q", c)
		}
		seen[c] = true
		if string(recoveryHash("usr_1", c)) != string(recoveryHash("usr_1", " "+strings.ToUpper(strings.ReplaceAll(c, "-", " ")))) {
			t.Fatal("a recovery code typed in capitals with spaces does not match")
		}
	}
	if string(recoveryHash("usr_1", "abcd")) == string(recoveryHash("usr_2", "abcd")) {
		t.Error("two users' equal codes hash alike")
	}
	h := sha256.Sum256([]byte("dev-finance-token"))
	if got := TokenActor("dev-finance-token"); got != "token:"+hex.EncodeToString(h[:4]) || len(got) != 14 {
		t.Errorf("TokenActor = %q", got)
	}
	if NeedsApproval(5_000_000, 5_000_000) || !NeedsApproval(5_000_001, 5_000_000) || !NeedsApproval(-5_000_001, 5_000_000) ||
		NeedsApproval(-5_000_000, 5_000_000) || !NeedsApproval(-1<<63, 5_000_000) || NeedsApproval(0, 0) {
		t.Error("NeedsApproval is not strictly above the threshold, by size")
	}
}
