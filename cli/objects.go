package cli

import (
	"encoding/csv"
	"fmt"
	"io"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mailaudit/mailaudit/service"
)

// objects prints directory objects (mailboxes, grants, bypass associations,
// the organisation) as property lists. columns are the table view's default
// columns; selected (--select, with wildcards) overrides every view.
type objects struct {
	format   string
	columns  []string
	selected []string
	rows     [][]service.Property
}

func (o *objects) add(props []service.Property) { o.rows = append(o.rows, props) }

func checkObjectFormat(format string) error {
	switch format {
	case "table", "list", "json", "csv":
		return nil
	}
	return Usagef("output format %q does not apply to this command: use table, list, json or csv", format)
}

// pick keeps the properties matching names (wildcards allowed), in the order
// of the names.
func pick(props []service.Property, names []string) []service.Property {
	var out []service.Property
	for _, n := range names {
		for _, p := range props {
			if ok, _ := path.Match(strings.ToLower(strings.TrimSpace(n)), strings.ToLower(p.Name)); ok && !hasProp(out, p.Name) {
				out = append(out, p)
			}
		}
	}
	return out
}

func hasProp(props []service.Property, name string) bool {
	for _, p := range props {
		if p.Name == name {
			return true
		}
	}
	return false
}

func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case bool:
		if v {
			return "True"
		}
		return "False"
	case []string:
		return "{" + strings.Join(v, ", ") + "}"
	case time.Time:
		if v.IsZero() {
			return ""
		}
		return v.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}

func (o *objects) write(w io.Writer) error {
	rows := o.rows
	if len(o.selected) > 0 {
		for i := range rows {
			rows[i] = pick(rows[i], o.selected)
		}
	}
	switch o.format {
	case "json":
		for _, props := range rows {
			b, err := service.Object(props).MarshalJSON()
			if err != nil {
				return err
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return err
			}
		}
		return nil
	case "list":
		for i, props := range rows {
			if i > 0 {
				fmt.Fprintln(w)
			}
			width := 0
			for _, p := range props {
				width = max(width, len(p.Name))
			}
			for _, p := range props {
				fmt.Fprintf(w, "%-*s : %s\n", width, p.Name, text(p.Value))
			}
		}
		return nil
	}
	// table and csv share columns: the selection, else the defaults.
	cols := o.selected
	if len(cols) == 0 {
		cols = o.columns
	}
	var names []string
	for _, props := range rows {
		for _, p := range pick(props, cols) {
			if !contains(names, p.Name) {
				names = append(names, p.Name)
			}
		}
	}
	if len(rows) == 0 {
		names = cols
	}
	value := func(props []service.Property, name string) string {
		for _, p := range props {
			if p.Name == name {
				if o.format == "csv" {
					if l, ok := p.Value.([]string); ok {
						return strings.Join(l, ",")
					}
				}
				return text(p.Value)
			}
		}
		return ""
	}
	if o.format == "csv" {
		cw := csv.NewWriter(w)
		cw.Write(names)
		for _, props := range rows {
			rec := make([]string, len(names))
			for i, n := range names {
				rec[i] = value(props, n)
			}
			cw.Write(rec)
		}
		cw.Flush()
		return cw.Error()
	}
	if len(rows) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(names, "\t"))
	dashes := make([]string, len(names))
	for i, n := range names {
		dashes[i] = strings.Repeat("-", len(n))
	}
	fmt.Fprintln(tw, strings.Join(dashes, "\t"))
	for _, props := range rows {
		vals := make([]string, len(names))
		for i, n := range names {
			vals[i] = value(props, n)
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	return tw.Flush()
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
