package monitor

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// chromiumPath finds Debian's chromium. Without it the browser test skips
// locally (naming it) and fails under CI, where .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed, and CI is set: .ci/run installs it when .ci/needs-chromium exists")
	}
	t.Skip("chromium is not installed: skipping the headless dashboard test (apt-get install chromium)")
	return ""
}

// harness loads the dashboard in a same-origin frame, clicks column headers
// like a person would, and writes what it saw into #result as JSON.
const harness = `<!doctype html><html><head><meta charset="utf-8"></head><body>
<pre id="result">pending</pre>
<iframe id="f" src="/admin/monitor/" width="1400" height="900"></iframe>
<script>
var f = document.getElementById("f");
f.addEventListener("load", function () {
  var out = {};
  try {
    var doc = f.contentDocument;
    var rows = function () { return Array.prototype.slice.call(doc.querySelectorAll("#tenants tbody tr[data-id]")); };
    var ids = function () { return rows().map(function (r) { return r.getAttribute("data-id"); }); };
    out.ready = doc.documentElement.getAttribute("data-ready") || "";
    out.errors = doc.documentElement.getAttribute("data-js-errors") || "0";
    out.initial = ids();
    out.risk = rows().map(function (r) { return r.getAttribute("data-at-risk"); });
    var byName = doc.querySelector('th[data-key="name"]');
    byName.click();
    out.nameAsc = ids();
    out.nameSort = byName.getAttribute("aria-sort");
    byName.click();
    out.nameDesc = ids();
    doc.querySelector('th[data-key="requests"]').click();
    out.requestsAsc = ids();
    out.age = doc.getElementById("data-age").textContent;
    out.sparks = doc.querySelectorAll("svg.spark").length;
  } catch (e) {
    out.harnessError = String(e);
  }
  document.getElementById("result").textContent = JSON.stringify(out);
});
</script></body></html>`

type harnessResult struct {
	Ready        string   `json:"ready"`
	Errors       string   `json:"errors"`
	Initial      []string `json:"initial"`
	Risk         []string `json:"risk"`
	NameAsc      []string `json:"nameAsc"`
	NameSort     string   `json:"nameSort"`
	NameDesc     []string `json:"nameDesc"`
	RequestsAsc  []string `json:"requestsAsc"`
	Age          string   `json:"age"`
	Sparks       int      `json:"sparks"`
	HarnessError string   `json:"harnessError"`
}

func TestDashboardInHeadlessChromium(t *testing.T) {
	chromium := chromiumPath(t)
	f := newDashFixture(t)
	d, err := NewDashboard(f.m, AuthorizerFunc(func(*http.Request) (Viewer, error) {
		return Viewer{Name: "browser", All: true}, nil
	}), &DashboardOptions{Alerter: f.al})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/admin/monitor/", http.StripPrefix("/admin/monitor", d))
	mux.HandleFunc("GET /harness", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(harness))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--no-first-run", "--disable-component-update",
		"--disable-sync", "--disable-extensions", "--user-data-dir="+t.TempDir(),
		"--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
		"--dump-dom", srv.URL+"/harness")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium failed: %s", stderr.String())

	m := regexp.MustCompile(`(?s)<pre id="result">(.*?)</pre>`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "no result in the dumped DOM:\n%s", out)
	var res harnessResult
	require.NoError(t, json.Unmarshal([]byte(html.UnescapeString(m[1])), &res), "result: %s", m[1])
	require.Empty(t, res.HarnessError)
	require.Equal(t, "1", res.Ready, "dashboard.js ran to the end")
	require.Equal(t, "0", res.Errors, "no script errors")
	for _, line := range strings.Split(stderr.String(), "\n") {
		require.NotContains(t, line, "Uncaught", "console: %s", line)
		require.NotContains(t, line, "Refused to", "CSP violation: %s", line)
	}

	// At-risk rows first, as rendered by the server.
	require.Equal(t, []string{bID, "tenant-alpha-a1", "tenant-idle-c3"}, res.Initial)
	require.Equal(t, []string{"true", "true", "false"}, res.Risk)
	// Clicking a header reorders the rows, and clicking again reverses.
	require.Equal(t, []string{"tenant-alpha-a1", bID, "tenant-idle-c3"}, res.NameAsc)
	require.Equal(t, "ascending", res.NameSort)
	require.Equal(t, []string{"tenant-idle-c3", bID, "tenant-alpha-a1"}, res.NameDesc)
	require.Equal(t, []string{"tenant-idle-c3", "tenant-alpha-a1", bID}, res.RequestsAsc)
	require.Contains(t, res.Age, "ago")
	require.Equal(t, 3, res.Sparks)
}
