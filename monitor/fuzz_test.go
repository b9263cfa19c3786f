package monitor

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDashboardRequest sends arbitrary paths and queries as a viewer scoped
// to tenant A: nothing may panic, answer 5xx, or mention tenant B.
func FuzzDashboardRequest(f *testing.F) {
	for _, seed := range []string{
		"/", "/api/tenants?page=-1&per_page=99999999999999999999", "/api/tenants/" + bID,
		"/api/tenants/tenant-alpha-a1/trends?days=1e9", "/tenants/%2e%2e%2f" + bID, "/api/tenants/%00",
		"/static/../ui/index.html", "/api/at-risk?page=2", "//api/summary", "/api/tenants/tenant-alpha-a1/trends?days=366",
		"/api/access-attempts?x=" + bID, "/tenants/tenant-alpha-a1?x=<script>",
	} {
		f.Add(seed)
	}
	fx := newDashFixture(f)
	f.Fuzz(func(t *testing.T, target string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		req, err := http.NewRequest(http.MethodGet, "http://x/admin/monitor"+target, nil)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer alpha")
		w := httptest.NewRecorder()
		fx.mux.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s: %d %s", target, w.Code, w.Body)
		}
		body := w.Body.String()
		for _, s := range []string{bName, bSlug, "987654321"} {
			if strings.Contains(body, s) {
				t.Fatalf("%s leaks %q", target, s)
			}
		}
		// B's id may only come back as an echo of the request (a redirect or
		// a 404 page naming the path), never as data.
		if strings.Contains(body, bID) && !strings.Contains(target, bID) && !strings.Contains(strings.ToLower(target), "%") {
			t.Fatalf("%s leaks B's id", target)
		}
		if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s: invalid JSON", target)
		}
	})
}

// FuzzValueJSON round-trips Value through JSON: decoding never panics and a
// decoded value always re-encodes as valid JSON.
func FuzzValueJSON(f *testing.F) {
	for _, s := range []string{"null", "0", "-1.5", "1e308", "1e999", `"NaN"`, "NaN", "[]", " null ", "12.34567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var v Value
		if err := json.Unmarshal([]byte(in), &v); err != nil {
			return
		}
		b, err := json.Marshal(v)
		if err != nil || !json.Valid(b) {
			t.Fatalf("%q re-encodes as %q (%v)", in, b, err)
		}
	})
}
