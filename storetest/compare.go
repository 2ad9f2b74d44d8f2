package storetest

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

var timeType = reflect.TypeFor[time.Time]()

// canon returns a deep copy of x as a store is expected to give it back:
// times truncated to the millisecond and in UTC, empty slices and maps nil.
// Unexported fields are left zero.
func canon[T any](x T) T {
	src := reflect.ValueOf(&x).Elem()
	dst := reflect.New(src.Type()).Elem()
	canonValue(dst, src)
	return dst.Interface().(T)
}

func canonValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		canonValue(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Slice:
		if src.Len() == 0 {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			canonValue(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Map:
		if src.Len() == 0 {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		iter := src.MapRange()
		for iter.Next() {
			v := reflect.New(src.Type().Elem()).Elem()
			canonValue(v, iter.Value())
			m.SetMapIndex(iter.Key(), v)
		}
		dst.Set(m)
	case reflect.Struct:
		if src.Type() == timeType {
			dst.Set(reflect.ValueOf(src.Interface().(time.Time).Truncate(time.Millisecond).UTC()))
			return
		}
		for i := range src.NumField() {
			if src.Type().Field(i).IsExported() {
				canonValue(dst.Field(i), src.Field(i))
			}
		}
	case reflect.Array:
		for i := range src.Len() {
			canonValue(dst.Index(i), src.Index(i))
		}
	default:
		dst.Set(src)
	}
}

// diff lists the differences between got and want (both canonical), by field
// path.
func diff(got, want any) []string {
	var out []string
	diffValue("", reflect.ValueOf(got), reflect.ValueOf(want), &out)
	return out
}

func diffValue(path string, got, want reflect.Value, out *[]string) {
	if len(*out) > 20 {
		return
	}
	if !got.IsValid() || !want.IsValid() {
		if got.IsValid() != want.IsValid() {
			*out = append(*out, fmt.Sprintf("%s: got %v, want %v", path, got, want))
		}
		return
	}
	if reflect.DeepEqual(got.Interface(), want.Interface()) {
		return
	}
	switch got.Kind() {
	case reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			*out = append(*out, fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want)))
			return
		}
		diffValue(path, got.Elem(), want.Elem(), out)
		return
	case reflect.Slice:
		if got.Len() != want.Len() {
			*out = append(*out, fmt.Sprintf("%s: got %d elements %s, want %d %s", path, got.Len(), show(got), want.Len(), show(want)))
			return
		}
		for i := range got.Len() {
			diffValue(fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i), out)
		}
		return
	case reflect.Struct:
		if got.Type() != timeType {
			for i := range got.NumField() {
				if f := got.Type().Field(i); f.IsExported() {
					diffValue(strings.TrimPrefix(path+"."+f.Name, "."), got.Field(i), want.Field(i), out)
				}
			}
			return
		}
	}
	*out = append(*out, fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want)))
}

func show(v reflect.Value) string {
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		return fmt.Sprintf("&%+v", v.Elem().Interface())
	}
	switch x := v.Interface().(type) {
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case uuid.UUID:
		return x.String()
	case string:
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprintf("%+v", v.Interface())
}

// sameRecords checks that got holds exactly the records of want, in order.
func sameRecords(t testingT, what string, got, want []*audit.Record) {
	t.Helper()
	if g, w := seqs(got), seqs(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s: got sequence numbers %v, want %v", what, g, w)
		return
	}
	for i := range got {
		if d := diff(canon(got[i]), canon(want[i])); len(d) > 0 {
			t.Errorf("%s: record %d (%s) differs:\n\t%s", what, want[i].SequenceNumber, want[i].Operation, strings.Join(d, "\n\t"))
		}
	}
}

type testingT interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// uncovered lists the fields (by path, slices as []) that are zero in every
// value of xs: the fields a round trip of xs does not test.
func uncovered[T any](xs []T) []string {
	set := map[string]bool{}
	for _, x := range xs {
		nonZero("", reflect.ValueOf(x), set)
	}
	var missing []string
	for _, p := range leaves("", reflect.TypeFor[T]()) {
		if !set[p] {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	return missing
}

func leaves(path string, t reflect.Type) []string {
	switch t.Kind() {
	case reflect.Pointer:
		return leaves(path, t.Elem())
	case reflect.Slice:
		return leaves(path+"[]", t.Elem())
	case reflect.Struct:
		if t == timeType {
			break
		}
		var out []string
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				out = append(out, leaves(strings.TrimPrefix(path+"."+f.Name, "."), f.Type)...)
			}
		}
		return out
	}
	return []string{path}
}

func nonZero(path string, v reflect.Value, set map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			nonZero(path, v.Elem(), set)
		}
		return
	case reflect.Slice:
		for i := range v.Len() {
			nonZero(path+"[]", v.Index(i), set)
		}
		return
	case reflect.Struct:
		if v.Type() != timeType {
			for i := range v.NumField() {
				if f := v.Type().Field(i); f.IsExported() {
					nonZero(strings.TrimPrefix(path+"."+f.Name, "."), v.Field(i), set)
				}
			}
			return
		}
	}
	if !v.IsZero() {
		set[path] = true
	}
}
