package export

import (
	"reflect"
	"testing"
)

// TestParseJSONRoundTrip reads back every golden record as the json format
// wrote it: what an HTTP API client receives must be the record the server
// held, but for where it came from (Source, SourceEventId), which the
// format does not carry.
func TestParseJSONRoundTrip(t *testing.T) {
	opt := Options{OrganizationId: "2b1c6c3e-1f7e-4b43-9a0e-6d1a2f3b4c5d", OrganizationName: "example"}
	n := 0
	for _, c := range loadCases(t) {
		for i, want := range c.records {
			b, err := JSON(want, opt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseJSON(b)
			if err != nil {
				t.Fatalf("%s #%d: %v", c.name, i, err)
			}
			w := *want
			w.Source, w.SourceEventId = "", ""
			if !w.CreationTime.Equal(got.CreationTime) {
				t.Errorf("%s #%d: CreationTime %v, want %v", c.name, i, got.CreationTime, w.CreationTime)
			}
			w.CreationTime = got.CreationTime
			if !reflect.DeepEqual(&w, got) {
				t.Errorf("%s #%d: read back\n%+v\nwant\n%+v", c.name, i, got, &w)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no records")
	}
	if _, err := ParseJSON([]byte(`{"CreationTime": "yesterday"}`)); err == nil {
		t.Error("a record with a bad CreationTime was read")
	}
}
