package console

import (
	"strings"
	"testing"

	"github.com/lunas-id/lunas/templates"
)

// Every mail kind lunas sends has a name on the order page in both
// languages (⟦mail.instructions⟧ and ⟦mail.reminder⟧ showed before).
func TestEveryMailKindHasAName(t *testing.T) {
	for _, kind := range templates.Kinds() {
		for _, lang := range []string{"id", "en"} {
			if s := translate(lang, "mail."+kind); strings.Contains(s, "⟦") {
				t.Errorf("%s: mail kind %q has no name (%s)", lang, kind, s)
			}
		}
	}
}
