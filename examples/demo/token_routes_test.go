package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTokenRoutesCoverAPI: every pattern routes() registers, except the
// catch-all "/", has its scope requirement in tokenRoutes. A route missing
// there would still need a valid token of its tenant, but with no scope at
// all (the gate's fallback), so a read-only token could call it.
func TestTokenRoutesCoverAPI(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "server.go", nil, 0)
	require.NoError(t, err)
	gated := map[string]bool{}
	for _, r := range tokenRoutes {
		gated[r.pattern] = true
	}
	var patterns []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "routes" {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			require.True(t, ok, "routes() registers a pattern that is not a string literal: check it against tokenRoutes by hand")
			p, err := strconv.Unquote(lit.Value)
			require.NoError(t, err)
			patterns = append(patterns, p)
			return true
		})
	}
	require.NotEmpty(t, patterns, "routes() not found in server.go")
	for _, p := range patterns {
		if p == "/" {
			continue
		}
		require.True(t, gated[p], "route %q has no scope in tokenRoutes (token.go)", p)
	}
}
