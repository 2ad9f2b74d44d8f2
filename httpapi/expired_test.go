package httpapi_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/token"
)

// A search whose result retention deleted is listed with ResultExpiredTime,
// as openapi.yaml says, and its result is no longer there to download.
func TestExpiredSearchResult(t *testing.T) {
	e := newEnv(t)
	a := e.must(t, 201, call{method: "POST", path: "/api/v1/audit-log-searches", role: token.Auditor,
		body: `{"Name": "old", "StartDate": "-1d", "EndDate": "now", "StatusMailRecipients": ["soc@example.com"]}`})
	var as struct{ Identity string }
	a.decode(t, &as)
	e.searchDone(t, as.Identity)
	later := time.Now().Add(31 * 24 * time.Hour)
	e.svc.Now = func() time.Time { return later }
	if n, err := e.svc.ExpireSearchResults(context.Background(), 30*24*time.Hour); n != 1 || err != nil {
		t.Fatalf("ExpireSearchResults = %d, %v", n, err)
	}
	list := e.must(t, 200, call{method: "GET", path: "/api/v1/audit-log-searches", role: token.Auditor, query: url.Values{"identity": {as.Identity}}})
	if !strings.Contains(string(list.body), `"ResultExpiredTime":"`+later.UTC().Format("2006-01-02T15:04")) {
		t.Errorf("the expired search: %s", list.body)
	}
	res := e.do(t, call{method: "GET", path: "/api/v1/audit-log-searches/" + as.Identity + "/result", role: token.Auditor, query: url.Values{"format": {"xml"}}})
	if res.status != 404 || !strings.Contains(string(res.body), "expired") {
		t.Errorf("downloading an expired result: %d %s", res.status, res.body)
	}
}
