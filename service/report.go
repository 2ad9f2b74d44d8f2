package service

import "encoding/json"

// reportJSON is an ingest report on the wire: what ingest -o json prints and
// what the HTTP API answers to a batch.
type reportJSON struct {
	Read                 int
	Recorded             int
	Aggregated           int
	NotAudited           int
	NotAuditedReasons    map[string]int
	Duplicates           int
	Refused              int
	RefusedLines         []Refusal
	CommittedThroughLine int
}

// MarshalJSON writes the report as ingest -o json prints it.
func (r *IngestReport) MarshalJSON() ([]byte, error) {
	out := reportJSON{r.Read, r.Recorded, r.Aggregated, r.NotAudited, r.Reasons, r.Duplicates, len(r.Refused), r.Refused, r.Committed}
	if out.NotAuditedReasons == nil {
		out.NotAuditedReasons = map[string]int{}
	}
	if out.RefusedLines == nil {
		out.RefusedLines = []Refusal{}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads a report that MarshalJSON wrote.
func (r *IngestReport) UnmarshalJSON(b []byte) error {
	var in reportJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*r = IngestReport{Read: in.Read, Recorded: in.Recorded, Aggregated: in.Aggregated, NotAudited: in.NotAudited,
		Reasons: in.NotAuditedReasons, Duplicates: in.Duplicates, Refused: in.RefusedLines, Committed: in.CommittedThroughLine}
	if len(r.Reasons) == 0 {
		r.Reasons = nil
	}
	return nil
}
