package tax

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lunas-id/lunas"
)

func company() Identity {
	return Identity{
		IDType: IDNPWP, ID: "0987654321098000", NITKU: "0987654321098000000000",
		Name: "PT Contoh Pelanggan", Address: "Jl. Sudirman No. 1, Jakarta", Email: "finance@contoh.co.id",
		WithholdsPPh23: true,
	}
}

// fields returns the field names of a validation error, sorted.
func fields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *lunas.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("not a validation error: %v", err)
	}
	if lunas.KindOf(err) != lunas.KindInvalid {
		t.Fatalf("kind %v", lunas.KindOf(err))
	}
	var names []string
	for _, f := range ve.Fields {
		names = append(names, f.Field)
	}
	slices.Sort(names)
	return names
}

func TestIdentityNormalize(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		in        Identity
		id, nitku string
	}{
		{"16-digit NPWP, NITKU defaults to the head office",
			Identity{IDType: IDNPWP, ID: "0987654321098000"}, "0987654321098000", "0987654321098000000000"},
		{"old 15-digit NPWP gets its leading 0",
			Identity{IDType: IDNPWP, ID: "012345678901000"}, "0012345678901000", "0012345678901000000000"},
		{"formatted 15-digit NPWP and its 21-digit NITKU",
			Identity{IDType: " NPWP ", ID: "01.234.567.8-901.000", NITKU: "012345678901000000001"}, "0012345678901000", "0012345678901000000001"},
		{"branch NITKU kept",
			Identity{IDType: IDNPWP, ID: "0987654321098000", NITKU: "0987654321098000000003"}, "0987654321098000", "0987654321098000000003"},
		{"NIK, NITKU defaults",
			Identity{IDType: IDNIK, ID: "3171 0123 4567 8901"}, "3171012345678901", "3171012345678901000000"},
		{"a 15-digit NIK is not an old NPWP",
			Identity{IDType: IDNIK, ID: "317101234567890"}, "317101234567890", ""},
		{"passport in upper case, no NITKU",
			Identity{IDType: IDPassport, ID: " x1234567 "}, "X1234567", ""},
	} {
		n := c.in.Normalize()
		if n.ID != c.id || n.NITKU != c.nitku {
			t.Errorf("%s: Normalize gave id %q nitku %q, want %q %q", c.name, n.ID, n.NITKU, c.id, c.nitku)
		}
		if n.Normalize() != n {
			t.Errorf("%s: Normalize is not idempotent", c.name)
		}
	}
	n := Identity{IDType: "Passport", Name: "  Jane Doe ", Address: " 1 Main St ", Email: " j@example.com "}.Normalize()
	if n.IDType != IDPassport || n.Name != "Jane Doe" || n.Address != "1 Main St" || n.Email != "j@example.com" {
		t.Errorf("trimmed: %+v", n)
	}
}

func TestIdentityValid(t *testing.T) {
	t.Parallel()
	for _, id := range []Identity{
		company(),
		{IDType: IDNPWP, ID: "012345678901000", Name: "PT Lama", Address: "Bandung"}, // 15 digits, no NITKU
		{IDType: IDNPWP, ID: "01.234.567.8-901.000", NITKU: "0012345678901000000002", Name: "PT Cabang", Address: "Surabaya"},
		{IDType: IDNIK, ID: "3171012345678901", Name: "Budi", Address: "Depok"},
		{IDType: IDPassport, ID: "X1234567", Name: "Jane Doe", Address: "Singapore", Email: "jane@example.com"},
		{IDType: IDNPWP, ID: "0987654321098000", Name: strings.Repeat("é", 200), Address: "Jl. <Tengah> & \"Co\" 'x'"},
	} {
		if err := id.Validate("tax"); err != nil {
			t.Errorf("%+v: %v", id, err)
		}
	}
}

// Every bad field is named at once, under the caller's prefix.
func TestIdentityFieldErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		in   Identity
		want []string
	}{
		{"empty", Identity{}, []string{"tax.address", "tax.id_type", "tax.name"}},
		{"unknown type", Identity{IDType: "ktp", ID: "1", Name: "a", Address: "b"}, []string{"tax.id_type"}},
		{"everything wrong at once",
			Identity{IDType: IDNPWP, ID: "123", NITKU: "99", Name: "", Address: strings.Repeat("a", 201), Email: "nope"},
			[]string{"tax.address", "tax.email", "tax.id", "tax.name", "tax.nitku"}},
		{"NPWP of 17 digits", Identity{IDType: IDNPWP, ID: "09876543210980001", Name: "a", Address: "b"}, []string{"tax.id", "tax.nitku"}},
		{"NPWP with a letter", Identity{IDType: IDNPWP, ID: "098765432109800A", NITKU: "0987654321098000000000", Name: "a", Address: "b"}, []string{"tax.id"}},
		{"NPWP of zeros", Identity{IDType: IDNPWP, ID: "0000000000000000", Name: "a", Address: "b"}, []string{"tax.id"}},
		{"NITKU of another NPWP", Identity{IDType: IDNPWP, ID: "0987654321098000", NITKU: "0123456789012345000000", Name: "a", Address: "b"}, []string{"tax.nitku"}},
		{"NITKU of 21 digits", Identity{IDType: IDNPWP, ID: "0987654321098000", NITKU: "098765432109800000000", Name: "a", Address: "b"}, []string{"tax.nitku"}},
		{"NIK of 15 digits", Identity{IDType: IDNIK, ID: "317101234567890", Name: "a", Address: "b"}, []string{"tax.id", "tax.nitku"}},
		{"NIK buyer withholding", Identity{IDType: IDNIK, ID: "3171012345678901", Name: "a", Address: "b", WithholdsPPh23: true}, []string{"tax.withholds_pph23"}},
		{"passport too short, with a NITKU, withholding",
			Identity{IDType: IDPassport, ID: "X12", NITKU: "0987654321098000000000", Name: "a", Address: "b", WithholdsPPh23: true},
			[]string{"tax.id", "tax.nitku", "tax.withholds_pph23"}},
		{"passport with a dash", Identity{IDType: IDPassport, ID: "X-1234567", Name: "a", Address: "b"}, []string{"tax.id"}},
		{"passport of 21", Identity{IDType: IDPassport, ID: strings.Repeat("A", 21), Name: "a", Address: "b"}, []string{"tax.id"}},
		{"NUL in the name", Identity{IDType: IDNPWP, ID: "0987654321098000", Name: "PT A\x00B", Address: "b"}, []string{"tax.name"}},
		{"line break in the address", Identity{IDType: IDNPWP, ID: "0987654321098000", Name: "a", Address: "Jl. A\nNo. 1"}, []string{"tax.address"}},
		{"escape and DEL", Identity{IDType: IDNPWP, ID: "0987654321098000", Name: "a\x1b[31m", Address: "b\x7f"}, []string{"tax.address", "tax.name"}},
		{"invalid UTF-8", Identity{IDType: IDNPWP, ID: "0987654321098000", Name: "PT \xff", Address: "b"}, []string{"tax.name"}},
		{"201 characters", Identity{IDType: IDNPWP, ID: "0987654321098000", Name: strings.Repeat("é", 201), Address: "b"}, []string{"tax.name"}},
		{"display-name email", Identity{IDType: IDNPWP, ID: "0987654321098000", Name: "a", Address: "b", Email: "Fin <fin@example.com>"}, []string{"tax.email"}},
		{"dotless domain", Identity{IDType: IDNPWP, ID: "0987654321098000", Name: "a", Address: "b", Email: "fin@localhost"}, []string{"tax.email"}},
	} {
		got := fields(t, c.in.Validate("tax"))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: fields %v, want %v (%v)", c.name, got, c.want, c.in.Validate("tax"))
		}
	}
	// Without a prefix the fields are bare; Check adds to a caller's error.
	if got := fields(t, Identity{}.Validate("")); !slices.Equal(got, []string{"address", "id_type", "name"}) {
		t.Errorf("no prefix: %v", got)
	}
	var ve lunas.ValidationError
	ve.Add("name", "is required")
	Identity{IDType: IDNIK}.Check(&ve, "tax")
	if got := fields(t, ve.Err()); !slices.Equal(got, []string{"name", "tax.address", "tax.id", "tax.name", "tax.nitku"}) {
		t.Errorf("Check: %v", got)
	}
}

// The JSON is API.md's account `tax` object.
func TestIdentityJSON(t *testing.T) {
	t.Parallel()
	in := `{"id_type":"npwp","id":"0012345678901234","nitku":"0012345678901234000000","name":"PT A","address":"Jakarta","email":"a@b.co","withholds_pph23":true}`
	var id Identity
	dec := json.NewDecoder(strings.NewReader(in))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&id); err != nil {
		t.Fatal(err)
	}
	if id.IDType != IDNPWP || id.ID != "0012345678901234" || !id.WithholdsPPh23 || id.Email != "a@b.co" {
		t.Fatalf("%+v", id)
	}
	out, _ := json.Marshal(id)
	if string(out) != in {
		t.Errorf("round trip:\n%s\n%s", out, in)
	}
	out, _ = json.Marshal(Identity{IDType: IDPassport, ID: "X1234567", Name: "J", Address: "S"})
	if want := `{"id_type":"passport","id":"X1234567","name":"J","address":"S","withholds_pph23":false}`; string(out) != want {
		t.Errorf("passport: %s", out)
	}
	for _, ty := range IDTypes() {
		if !ty.Valid() {
			t.Errorf("%s not valid", ty)
		}
	}
	if IDType("NPWP").Valid() {
		t.Error("Valid is case-sensitive: Normalize lowers the case")
	}
}
