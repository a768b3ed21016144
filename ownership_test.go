package lunas_test

import (
	"fmt"
	"go/ast"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// tables lists the tables store/migrations creates.
func tables(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("store", "migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v (%d files)", err, len(files))
	}
	create := regexp.MustCompile(`(?i)\bcreate\s+table\s+(?:if\s+not\s+exists\s+)?([a-z_][a-z0-9_]*)`)
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range create.FindAllStringSubmatch(string(b), -1) {
			if name := strings.ToLower(m[1]); !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestOneWriterPerTable is the house rule "every table has one owning
// package; only it writes the table" checked on the code (make lint runs
// it with -v and shows the list): for each table of store/migrations, the
// packages whose non-test code writes it — an INSERT (with or without ON
// CONFLICT DO UPDATE), UPDATE, DELETE, COPY or TRUNCATE in a string
// literal, or a pgx CopyFrom into it. It fails when a table has two
// writers, and when an exported function or method takes a SQL fragment
// (a string parameter named set, where, sql, query, cond, clause,
// fragment…): other packages change a table through the owner's typed
// methods, never by handing it SQL.
func TestOneWriterPerTable(t *testing.T) {
	t.Parallel()
	// notLunas are the directories whose code is not the service: test
	// support and fakes (internal/) and the tools that drive or measure a
	// stack from outside (the fault suite, the load generators, the fake
	// gateways). They may write any table, and hand a whole query to a
	// helper, to set up or inspect a run; the rules are about lunas itself.
	notLunas := regexp.MustCompile(`^(internal/|cmd/(faults|loadgen|usagebench|subbench|webhookbench|fakegw)/)`)
	// writes find the tables a piece of SQL writes.
	writes := []*regexp.Regexp{
		regexp.MustCompile(`(?is)\binsert\s+into\s+([a-z_][a-z0-9_]*)`), // INSERT, and INSERT … ON CONFLICT DO UPDATE
		regexp.MustCompile(`(?is)\bupdate\s+([a-z_][a-z0-9_]*)(?:\s+(?:as\s+)?[a-z_][a-z0-9_]*)?\s+set\b`),
		regexp.MustCompile(`(?is)\bdelete\s+from\s+([a-z_][a-z0-9_]*)`),
		regexp.MustCompile(`(?is)\bcopy\s+([a-z_][a-z0-9_]*)\s*(?:\([^)]*\)\s*)?from\b`),
		regexp.MustCompile(`(?is)\btruncate\s+(?:table\s+)?([a-z_][a-z0-9_]*)`),
	}
	fset, files := sources(t)
	known := tables(t)
	writers := map[string]map[string]bool{}
	for _, tbl := range known {
		writers[tbl] = map[string]bool{}
	}
	note := func(pkg, table string) {
		if w, ok := writers[strings.ToLower(table)]; ok {
			w[pkg] = true
		}
	}
	fragment := regexp.MustCompile(`(?i)^(set|sets|where|sql|query|stmt|statement|cond|conds|condition|conditions|clause|clauses|fragment|frag|expr|predicate|filter|columns|cols|orderby|order_by)$`)
	var fragments []string
	for path, f := range files {
		path = filepath.ToSlash(path)
		lunas := !notLunas.MatchString(path)
		pkg := filepath.ToSlash(filepath.Dir(path))
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.BasicLit:
				if !lunas || x.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(x.Value)
				if err != nil {
					return true
				}
				for _, re := range writes {
					for _, m := range re.FindAllStringSubmatch(s, -1) {
						note(pkg, m[1])
					}
				}
			case *ast.CallExpr:
				// tx.CopyFrom(ctx, pgx.Identifier{"table"}, …)
				sel, ok := x.Fun.(*ast.SelectorExpr)
				if !lunas || !ok || sel.Sel.Name != "CopyFrom" || len(x.Args) < 2 {
					return true
				}
				if cl, ok := x.Args[1].(*ast.CompositeLit); ok && len(cl.Elts) > 0 {
					if lit, ok := cl.Elts[len(cl.Elts)-1].(*ast.BasicLit); ok {
						if s, err := strconv.Unquote(lit.Value); err == nil {
							note(pkg, s)
						}
					}
				}
			case *ast.FuncDecl:
				if !lunas || !x.Name.IsExported() || x.Type.Params == nil {
					return true
				}
				for _, p := range x.Type.Params.List {
					typ, ok := p.Type.(*ast.Ident)
					if e, isEllipsis := p.Type.(*ast.Ellipsis); isEllipsis {
						typ, ok = e.Elt.(*ast.Ident)
					}
					if !ok || typ.Name != "string" {
						continue
					}
					for _, name := range p.Names {
						if fragment.MatchString(name.Name) {
							fragments = append(fragments, fmt.Sprintf("%s: %s takes SQL fragment %q", fset.Position(x.Pos()), x.Name.Name, name.Name))
						}
					}
				}
			}
			return true
		})
	}
	width := 0
	for _, tbl := range known {
		width = max(width, len(tbl))
	}
	var out strings.Builder
	for _, tbl := range known {
		pkgs := make([]string, 0, len(writers[tbl]))
		for p := range writers[tbl] {
			pkgs = append(pkgs, p)
		}
		slices.Sort(pkgs)
		fmt.Fprintf(&out, "%-*s  %s\n", width, tbl, strings.Join(pkgs, ", "))
		if len(pkgs) > 1 {
			t.Errorf("table %s has %d writers (%s): give it one owner, whose typed methods the others call", tbl, len(pkgs), strings.Join(pkgs, ", "))
		}
	}
	t.Logf("table → the package that writes it (non-test code, tools and internal/ aside):\n%s", out.String())
	slices.Sort(fragments)
	for _, f := range fragments {
		t.Error(f)
	}
}
