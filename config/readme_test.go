package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// docs/configuration.md holds exactly the table the declaration generates.
func TestREADMEHoldsTheGeneratedTable(t *testing.T) {
	t.Parallel()
	doc := readme(t)
	want, err := RewriteTable(doc)
	if err != nil {
		t.Fatal(err)
	}
	if want != doc {
		t.Error("docs/configuration.md's configuration table is not the declaration's: run `go generate ./config`")
	}
}

// docs/configuration.md's table, read as a reader reads it (not through
// the markers), agrees with the declaration: every declared variable has
// a row with its default, and every row names declared variables only.
func TestREADMETableAgreesWithDeclaration(t *testing.T) {
	t.Parallel()
	rows := configRows(t, readme(t))
	declared := map[string]Var{}
	for _, v := range Vars() {
		declared[v.Name] = v
	}
	documented := map[string]bool{}
	for _, r := range rows {
		defaults := []string{r.def}
		if parts := strings.Split(r.def, ", "); len(r.names) > 1 && len(parts) == len(r.names) {
			defaults = parts // `500`, `300000` for two variables
		}
		for i, name := range r.names {
			v, ok := declared[name]
			if !ok {
				t.Errorf("README row names %s, which config does not declare", name)
				continue
			}
			if documented[name] {
				t.Errorf("%s has two README rows", name)
			}
			documented[name] = true
			def := defaults[min(i, len(defaults)-1)]
			if def != v.DefaultText() {
				t.Errorf("%s: README default %q, declared %q", name, def, v.DefaultText())
			}
		}
	}
	for name := range declared {
		if !documented[name] {
			t.Errorf("%s is declared but has no README row", name)
		}
	}
}

type readmeRow struct {
	names []string
	def   string
}

// configRows reads the first table under "## Configuration": its rows whose
// first cell names variables in backticks.
func configRows(t *testing.T, doc string) []readmeRow {
	t.Helper()
	_, section, ok := strings.Cut(doc, "\n## Configuration\n")
	if !ok {
		t.Fatal("docs/configuration.md has no Configuration section")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")
	var rows []readmeRow
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := splitCells(line)
		if len(cells) < 3 {
			t.Fatalf("README row with fewer than 3 cells: %s", line)
		}
		var r readmeRow
		for _, m := range name.FindAllStringSubmatch(cells[0], -1) {
			r.names = append(r.names, m[1])
		}
		r.def = cells[1]
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		t.Fatal("docs/configuration.md's Configuration section has no table of variables")
	}
	return rows
}

// splitCells splits a Markdown table row at its unescaped pipes, trims
// each cell and unescapes its \| .
func splitCells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	var cells []string
	var cell strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cell.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(line[i])
		}
	}
	if rest := strings.TrimSpace(cell.String()); rest != "" {
		cells = append(cells, rest) // a row without its closing pipe
	}
	return cells
}

// The reader above understands the README's hand-written forms too: rows
// naming several variables with one default or one each.
func TestConfigRowsReader(t *testing.T) {
	t.Parallel()
	doc := "# x\n\n## Configuration\n\n| variable | default | meaning |\n|---|---|---|\n" +
		"| `A_B`, `C` | `500`, `300000` | packs |\n| `D` |`BCA\\|1\\|PT X`| bank \\| account\n\n## Next\n| `E` | x | y |\n"
	rows := configRows(t, doc)
	if len(rows) != 2 || strings.Join(rows[0].names, ",") != "A_B,C" || rows[0].def != "`500`, `300000`" ||
		rows[1].names[0] != "D" || rows[1].def != "`BCA|1|PT X`" {
		t.Errorf("%+v", rows)
	}
}

func TestRewriteTable(t *testing.T) {
	t.Parallel()
	got, err := RewriteTable("intro\n" + tableStart + "\nold table\n" + tableEnd + "\nafter\n")
	if err != nil || got != "intro\n"+tableStart+"\n"+MarkdownTable()+tableEnd+"\nafter\n" {
		t.Errorf("%q %v", got, err)
	}
	for _, doc := range []string{"no markers", tableEnd + "\n" + tableStart + "\n"} {
		if _, err := RewriteTable(doc); err == nil {
			t.Errorf("%q: no error", doc)
		}
	}
}
