package token

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestLookup(t *testing.T) {
	s := NewSet(map[string]string{"a-token": RoleApp, "f-token": RoleFinance})
	h := sha256.Sum256([]byte("f-token"))
	c, ok := s.Lookup("f-token")
	if !ok || c.Role != RoleFinance || c.Identity != "finance:"+hex.EncodeToString(h[:4]) {
		t.Errorf("finance token: %+v %v", c, ok)
	}
	for _, bad := range []string{"", "f-token ", "F-TOKEN", "a-toke"} {
		if _, ok := s.Lookup(bad); ok {
			t.Errorf("%q was accepted", bad)
		}
	}
	if !s.Has(c) || s.Has(Caller{Role: RoleApp, Identity: c.Identity}) || NewSet(map[string]string{"other": RoleFinance}).Has(c) {
		t.Error("Has does not tell a configured token's caller")
	}
}
