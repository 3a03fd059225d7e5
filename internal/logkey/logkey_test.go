package logkey_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// converted lists the directories (from the module root) whose log calls
// must take their keys from this package. A directory covers its
// subdirectories except those in notConverted.
var converted = []string{
	"cmd",
	"internal/agent",
	"internal/arm",
	"internal/batch",
	"internal/batchapi",
	"internal/bearer",
	"internal/blob",
	"internal/cli",
	"internal/hostagent",
	"internal/imds",
	"internal/jobs",
	"internal/login",
	"internal/logkey",
	"internal/nodeapi",
	"internal/odata",
	"internal/pki",
	"internal/rbac",
	"internal/sandbox",
	"internal/server",
	"internal/sharedkey",
	"internal/store",
}

// notConverted lists subdirectories of converted ones that are not yet.
var notConverted = []string{}

// TestKeys checks that every key is snake_case and that no two constants
// spell the same key, so a concept has one name in code as in the logs.
func TestKeys(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "logkey.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	byValue := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Errorf("%s is not a string literal", name.Name)
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				if !snake.MatchString(v) {
					t.Errorf("%s = %q is not snake_case", name.Name, v)
				}
				if other, dup := byValue[v]; dup {
					t.Errorf("%s and %s both spell %q", other, name.Name, v)
				}
				byValue[v] = name.Name
			}
		}
	}
	if len(byValue) == 0 {
		t.Fatal("no keys found in logkey.go")
	}
}

// msgArg maps the slog.Logger methods to the index of their message
// argument; the key/value pairs follow it. With has no message.
var msgArg = map[string]int{
	"Debug": 0, "Info": 0, "Warn": 0, "Error": 0,
	"DebugContext": 1, "InfoContext": 1, "WarnContext": 1, "ErrorContext": 1,
	"Log": 2, "With": -1,
}

// attrFuncs are the slog functions whose first argument is a key.
var attrFuncs = map[string]bool{
	"String": true, "Int": true, "Int64": true, "Uint64": true, "Float64": true,
	"Bool": true, "Time": true, "Duration": true, "Any": true, "Group": true,
}

// TestLogCallsUseKeys checks that no log call in a converted package spells
// a key as a string literal: every key comes from this package.
func TestLogCallsUseKeys(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	files := 0
	for _, dir := range converted {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				for _, skip := range notConverted {
					if rel == skip {
						return filepath.SkipDir
					}
				}
				if d.Name() == "testdata" || d.Name() == "node_modules" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			files++
			for _, pos := range literalKeys(f) {
				t.Errorf("%s: log key spelled as a literal; use a logkey constant", fset.Position(pos))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files == 0 {
		t.Fatal("no Go files found; is the test run from its package directory?")
	}
}

// literalKeys returns the positions of string literals used as log keys in f.
// A call counts as a log call when its method is one of slog.Logger's and its
// message argument is a string literal (so http.Error(w, ...) does not).
func literalKeys(f *ast.File) []token.Pos {
	var out []token.Pos
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && x.Name == "slog" {
			if attrFuncs[sel.Sel.Name] && len(call.Args) > 0 && isString(call.Args[0]) {
				out = append(out, call.Args[0].Pos())
			}
			return true
		}
		i, ok := msgArg[sel.Sel.Name]
		if !ok {
			return true
		}
		args := call.Args
		if i >= 0 {
			if len(args) <= i || !isString(args[i]) {
				return true
			}
			args = args[i+1:]
		}
		for k := 0; k < len(args); k++ {
			if isString(args[k]) {
				out = append(out, args[k].Pos())
			}
			// A key is followed by its value; a slog.Attr stands alone.
			if !isAttr(args[k]) {
				k++
			}
		}
		return true
	})
	return out
}

func isString(e ast.Expr) bool {
	lit, ok := e.(*ast.BasicLit)
	return ok && lit.Kind == token.STRING
}

func isAttr(e ast.Expr) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == "slog" && attrFuncs[sel.Sel.Name]
}
