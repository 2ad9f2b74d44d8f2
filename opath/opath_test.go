package opath

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var known = []string{
	"AuditEnabled", "AuditAdmin", "AuditOwner", "City", "CustomAttribute1", "CustomAttribute15",
	"Department", "DisplayName", "EmailAddresses", "ItemCount", "Office",
	"RecipientTypeDetails", "Title", "TotalItemSize", "WhenCreated",
}

// mailbox answers only to canonical names, so that a filter that passed on
// the spelling it was typed with would fail to match.
type mailbox map[string]any

func (m mailbox) Property(name string) any { return m[name] }

var alice = mailbox{
	"AuditEnabled":         false,
	"AuditAdmin":           []string{},
	"AuditOwner":           []string{"", "Update"},
	"City":                 "Zürich",
	"CustomAttribute1":     "90",
	"CustomAttribute15":    "Audit-2026",
	"Department":           "Accounting",
	"DisplayName":          "Alice O'Brien",
	"EmailAddresses":       []string{"SMTP:alice@example.com", "smtp:a.obrien@example.org"},
	"ItemCount":            1500,
	"Office":               nil,
	"RecipientTypeDetails": "UserMailbox",
	"Title":                "",
	"TotalItemSize":        int64(5_000_000_000),
	"WhenCreated":          time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC),
}

func TestMatch(t *testing.T) {
	tests := []struct {
		expr string
		want bool
	}{
		// Every operator, on strings: case-insensitive.
		{`Department -eq 'accounting'`, true},
		{`Department -eq 'Sales'`, false},
		{`Department -ne "Accounting"`, false},
		{`Department -ne 'Sales'`, true},
		{`Department -gt 'ab'`, true},
		{`Department -lt 'B'`, true},
		{`Department -lt 'ACCOUNTS'`, true},
		{`Department -ge 'ACCOUNTING'`, true},
		{`Department -le 'accounting'`, true},
		{`Department -gt 'accounting'`, false},
		{`RecipientTypeDetails -eq UserMailbox`, true},
		{`RecipientTypeDetails -eq SharedMailbox`, false},

		// Wildcards: only * is one, and the whole value must match.
		{`Department -like 'Acc*'`, true},
		{`Department -like '*ING'`, true},
		{`Department -like '*count*'`, true},
		{`Department -like 'A*c*g'`, true},
		{`Department -like 'A*g*g'`, false},
		{`Department -like '**'`, true},
		{`Department -like 'Acc'`, false},
		{`Department -like 'accounting'`, true},
		{`Department -like 'Acc?unting'`, false},
		{`Department -like 'Acc[o]unting'`, false},
		{`Department -notlike 'Sales*'`, true},
		{`Department -notlike 'acc*'`, false},
		{`CustomAttribute15 -like 'Audit*'`, true},
		{`City -eq 'ZÜRICH'`, true},
		{`City -like 'zür*'`, true},
		{`ItemCount -like '15*'`, true},
		{`AuditEnabled -like 'f*'`, true},

		// Booleans: $true and $false, and the words.
		{`AuditEnabled -eq $false`, true},
		{`AuditEnabled -eq $FALSE`, true},
		{`AuditEnabled -ne $false`, false},
		{`AuditEnabled -eq $true`, false},
		{`AuditEnabled -ne $true`, true},
		{`AuditEnabled -eq 'false'`, true},
		{`AuditEnabled -eq "FALSE"`, true},
		{`AuditEnabled -eq false`, true},
		{`AuditEnabled -eq 'no'`, false},
		{`AuditEnabled -eq 0`, false},
		{`Department -eq $true`, false},

		// Numbers compare as numbers, also in strings.
		{`ItemCount -eq 1500`, true},
		{`ItemCount -eq '1500'`, true},
		{`ItemCount -eq 1500.0`, true},
		{`ItemCount -eq 'many'`, false},
		{`ItemCount -ne 1500`, false},
		{`ItemCount -gt 1000`, true},
		{`ItemCount -gt 1500`, false},
		{`ItemCount -ge 1500`, true},
		{`ItemCount -lt 2000`, true},
		{`ItemCount -le 1499`, false},
		{`ItemCount -gt 999.5`, true},
		{`ItemCount -gt -5`, true},
		{`TotalItemSize -gt 4999999999`, true},
		{`TotalItemSize -lt 5000000001`, true},
		{`CustomAttribute1 -gt 100`, false}, // as strings, "90" > "100"
		{`CustomAttribute1 -lt 100`, true},
		{`CustomAttribute1 -ge 90.0`, true},
		{`CustomAttribute1 -eq 90`, true},
		{`CustomAttribute1 -eq 090`, false}, // -eq on a string property compares text
		{`Department -gt 5`, true},          // not a number: compared as text

		// Times: RFC 3339 or a date, which is midnight UTC.
		{`WhenCreated -gt '2026-01-01'`, true},
		{`WhenCreated -gt 2026-03-15`, true},
		{`WhenCreated -lt '2026-03-15'`, false},
		{`WhenCreated -ge '2026-03-15T10:00:00Z'`, true},
		{`WhenCreated -gt '2026-03-15T10:00:00.5Z'`, false},
		{`WhenCreated -gt '2026-03-15T11:00:00+02:00'`, true},
		{`WhenCreated -eq '2026-03-15T12:00:00+02:00'`, true},
		{`WhenCreated -ne '2026-03-15T12:00:00+02:00'`, false},
		{`WhenCreated -le '2026-03-15T10:00:00Z'`, true},
		{`WhenCreated -gt 'yesterday'`, false},
		{`WhenCreated -lt 'yesterday'`, false},
		{`WhenCreated -like '2026-03-15*'`, true},

		// $null, and unset or empty properties.
		{`Office -eq $null`, true},
		{`Office -ne $null`, false},
		{`Title -eq $NULL`, true},
		{`AuditAdmin -eq $null`, true},
		{`Department -eq $null`, false},
		{`Department -ne $null`, true},
		{`EmailAddresses -ne $null`, true},
		{`AuditEnabled -eq $null`, false},
		{`ItemCount -eq $null`, false},
		{`Office -eq ''`, true},
		{`Department -eq ''`, false},
		{`Department -ne ""`, true},
		{`Office -eq 'x'`, false},
		{`Office -ne 'x'`, true},
		{`Office -like '*'`, false},
		{`Office -notlike '*'`, true},
		{`Title -like '*'`, false},
		{`Office -like ''`, true},
		{`Office -gt 'a'`, false},
		{`Office -lt 'a'`, false},
		{`AuditAdmin -like '*'`, false},
		{`-not(Office -eq 'x')`, true},

		// Multi-valued: any element.
		{`EmailAddresses -eq 'smtp:alice@example.com'`, true},
		{`EmailAddresses -eq 'smtp:bob@example.com'`, false},
		{`EmailAddresses -ne 'smtp:alice@example.com'`, false},
		{`EmailAddresses -ne 'smtp:bob@example.com'`, true},
		{`EmailAddresses -like '*@example.org'`, true},
		{`EmailAddresses -like '*@example.net'`, false},
		{`EmailAddresses -notlike '*@example.org'`, false},
		{`EmailAddresses -notlike '*@example.net'`, true},
		{`EmailAddresses -lt 'smtp:b'`, true},
		{`EmailAddresses -gt 'smtp:b'`, false},
		{`AuditAdmin -ne 'x'`, true},
		{`AuditOwner -eq 'update'`, true},
		{`AuditOwner -lt 'a'`, false}, // an empty element is no element
		{`AuditOwner -eq $null`, false},

		// Quoting forms and braces around the whole filter.
		{`'AuditEnabled -eq $false'`, true},
		{`"AuditEnabled -eq $false"`, true},
		{`{AuditEnabled -eq $false}`, true},
		{`  { AuditEnabled -eq $false }  `, true},
		{`"{Department -ne 'x'}"`, true},
		{`'{ Department -eq "Accounting" }'`, true},
		{`{'Department -eq "Accounting"'}`, true},
		{`'DisplayName -eq ''Alice O''''Brien'''`, true},
		{`"DisplayName -eq ""Alice O'Brien"""`, true},
		{`DisplayName -eq "Alice O'Brien"`, true},
		{`DisplayName -eq 'Alice O''Brien'`, true},
		{`Department -eq'Accounting'`, true},
		{`Department –eq ‘Accounting’`, true},
		{`“AuditEnabled —eq $false”`, true},
		{`auditenabled -EQ $False`, true},
		{"\tDepartment\n-eq\r\n'Accounting' ", true},

		// Precedence: -not over -and over -or; parentheses.
		{`AuditEnabled -eq $true -and Department -eq 'Accounting' -or ItemCount -gt 1000`, true},
		{`ItemCount -gt 1000 -or Department -eq 'Sales' -and AuditEnabled -eq $true`, true},
		{`(ItemCount -gt 1000 -or Department -eq 'Sales') -and AuditEnabled -eq $true`, false},
		{`AuditEnabled -eq $true -and (Department -eq 'Accounting' -or ItemCount -gt 1000)`, false},
		{`-not AuditEnabled -eq $true`, true},
		{`-not AuditEnabled -eq $false -or Department -eq 'Accounting'`, true},
		{`-not AuditEnabled -eq $true -and Department -eq 'Sales'`, false},
		{`-not(AuditEnabled -eq $false)`, false},
		{`-NOT (Department -eq 'Sales')`, true},
		{`-not -not AuditEnabled -eq $false`, true},
		{`-not(-not(AuditEnabled -eq $false))`, true},
		{`((AuditEnabled -eq $false))`, true},
		{`(AuditEnabled -eq $false) -and (Department -like 'A*' -or Department -like 'S*')`, true},
		{`Department -eq 'Sales' -or Department -eq 'HR' -or Department -eq 'Accounting'`, true},
		{`Department -like 'A*' -and ItemCount -gt 10 -and AuditEnabled -eq $true`, false},
	}
	for _, tt := range tests {
		f, err := Parse(tt.expr, known)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.expr, err)
			continue
		}
		if got := f.Match(alice); got != tt.want {
			t.Errorf("Parse(%q).Match(alice) = %v, want %v (parsed as %s)", tt.expr, got, tt.want, f)
		}
	}
}

func TestNilFilter(t *testing.T) {
	var f *Filter
	if !f.Match(alice) {
		t.Error("nil filter does not match")
	}
	if s := f.String(); s != "" {
		t.Errorf("nil filter String() = %q", s)
	}
}

func TestString(t *testing.T) {
	tests := []struct{ expr, want string }{
		{`{auditenabled -EQ $FALSE}`, `AuditEnabled -eq $false`},
		{`'Office -eq $Null'`, `Office -eq $null`},
		{`AuditEnabled -ne $TRUE`, `AuditEnabled -ne $true`},
		{`RecipientTypeDetails -eq UserMailbox`, `RecipientTypeDetails -eq 'UserMailbox'`},
		{`ItemCount -gt 90`, `ItemCount -gt 90`},
		{`ItemCount -gt -9.5`, `ItemCount -gt -9.5`},
		{`ItemCount -gt '90'`, `ItemCount -gt '90'`},
		{`DisplayName -eq "O'Brien"`, `DisplayName -eq 'O''Brien'`},
		{`DisplayName -eq "O’Brien"`, `DisplayName -eq 'O’’Brien'`},
		{`Department –LIKE ‘Acc*’`, `Department -like 'Acc*'`},
		{`Department -NotLike "x"`, `Department -notlike 'x'`},
		{`ItemCount -GE 1 -and ItemCount -LE 2 -or ItemCount -Lt 3 -or ItemCount -gT 4`,
			`ItemCount -ge 1 -and ItemCount -le 2 -or ItemCount -lt 3 -or ItemCount -gt 4`},
		{`Title -eq 1 -or Title -eq 2 -and Title -eq 3`, `Title -eq 1 -or Title -eq 2 -and Title -eq 3`},
		{`(Title -eq 1 -or Title -eq 2) -and Title -eq 3`, `(Title -eq 1 -or Title -eq 2) -and Title -eq 3`},
		{`(Title -eq 1 -and Title -eq 2) -and (Title -eq 3 -and Title -eq 4)`,
			`Title -eq 1 -and Title -eq 2 -and Title -eq 3 -and Title -eq 4`},
		{`((Title -eq 1 -or Title -eq 2) -or Title -eq 3)`, `Title -eq 1 -or Title -eq 2 -or Title -eq 3`},
		{`-not Title -eq 1 -and Title -eq 2`, `-not(Title -eq 1) -and Title -eq 2`},
		{`-not (Title -eq 1 -or Title -eq 2)`, `-not(Title -eq 1 -or Title -eq 2)`},
		{`-not -not Title -eq 1`, `-not(-not(Title -eq 1))`},
	}
	for _, tt := range tests {
		f, err := Parse(tt.expr, known)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.expr, err)
			continue
		}
		got := f.String()
		if got != tt.want {
			t.Errorf("Parse(%q).String() = %s, want %s", tt.expr, got, tt.want)
		}
		g, err := Parse(got, known)
		if err != nil {
			t.Errorf("Parse(%q) (the normalised form): %v", got, err)
		} else if again := g.String(); again != got {
			t.Errorf("normalised form %s parses back as %s", got, again)
		}
	}
}

// TestCanonicalNames checks that Property receives the spelling in known,
// whatever the filter says, and that the first of two spellings wins.
func TestCanonicalNames(t *testing.T) {
	var asked []string
	o := objectFunc(func(name string) any {
		asked = append(asked, name)
		return "x"
	})
	f, err := Parse(`department -eq 'x' -and DEPARTMENT -eq 'x'`, []string{"Department", "DEPARTMENT"})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Match(o) {
		t.Error("no match")
	}
	if strings.Join(asked, ",") != "Department,Department" {
		t.Errorf("Property was asked for %q", asked)
	}
}

type objectFunc func(string) any

func (f objectFunc) Property(name string) any { return f(name) }

func TestErrors(t *testing.T) {
	deepParens := strings.Repeat("(", 101) + "Title -eq 1" + strings.Repeat(")", 101)
	deepNots := strings.Repeat("-not ", 101) + "Title -eq 1"
	tests := []struct {
		expr string
		want string
	}{
		{``, `filter: empty filter at position 1`},
		{`   `, `filter: empty filter at position 1`},
		{`{}`, `filter: empty filter at position 2`},
		{`{ }`, `filter: empty filter at position 2`},
		{`''`, `filter: empty filter at position 2`},
		{`"{ }"`, `filter: empty filter at position 3`},

		{`Departmnt -eq 'x'`, `filter: unknown property 'Departmnt' at position 1`},
		{`"{Departmnt -eq 'x'}"`, `filter: unknown property 'Departmnt' at position 3`},
		{`AuditEnabled-eq $false`, `filter: unknown property 'AuditEnabled-eq' at position 1`},
		{`Title -eq 1 -or 42 -eq 1`, `filter: unknown property '42' at position 17`},

		{`DisplayName -equals 'x'`, `filter: unknown operator '-equals' at position 13`},
		{`Department –equals 'x'`, `filter: unknown operator '–equals' at position 12`},
		{`AuditEnabled -eq5`, `filter: unknown operator '-eq5' at position 14`},
		{`AuditEnabled -eq $false -xor Department -eq 'x'`, `filter: unknown operator '-xor' at position 25`},
		{`-foo Department -eq 'x'`, `filter: unknown operator '-foo' at position 1`},
		{`City -eq 'Zürich' -andd City -eq 'x'`, `filter: unknown operator '-andd' at position 19`},
		{`'Department -eq ''x'' -andd'`, `filter: unknown operator '-andd' at position 23`},

		{`AuditEnabled $false`, `filter: expected a comparison operator, found '$false' at position 14`},
		{`AuditEnabled`, `filter: expected a comparison operator at position 13`},
		{`AuditEnabled -and Department -eq 'x'`, `filter: expected a comparison operator, found '-and' at position 14`},
		{`(AuditEnabled)`, `filter: expected a comparison operator, found ')' at position 14`},

		{`AuditEnabled -eq`, `filter: expected a value at position 17`},
		{`AuditEnabled -eq   `, `filter: expected a value at position 17`},
		{`{AuditEnabled -eq}`, `filter: expected a value at position 18`},
		{`'AuditEnabled -eq '`, `filter: expected a value at position 18`},
		{`Department -eq -or`, `filter: expected a value, found '-or' at position 16`},
		{`(Department -eq )`, `filter: expected a value, found ')' at position 17`},
		{`Department -eq (x)`, `filter: expected a value, found '(' at position 16`},

		{`-and Department -eq 'x'`, `filter: expected a property name, found '-and' at position 1`},
		{`AuditEnabled -eq $false -and`, `filter: expected a property name at position 29`},
		{`-not`, `filter: expected a property name at position 5`},
		{`()`, `filter: expected a property name, found ')' at position 2`},
		{`Title -eq 1 -and -eq 1`, `filter: expected a property name, found '-eq' at position 18`},
		{`'Department' -eq 'x'`, `filter: expected a property name, found string 'Department' at position 1`},
		{`"Department" -eq 'x'`, `filter: expected a property name, found string "Department" at position 1`},
		{`'Department -eq 'x''`, `filter: expected a property name, found string 'Department -eq ' at position 1`},
		{`$true -eq AuditEnabled`, `filter: expected a property name, found '$true' at position 1`},

		{`AuditEnabled -eq $false Department -eq 'x'`, `filter: expected -and or -or, found 'Department' at position 25`},
		{`AuditEnabled -eq $false -eq $true`, `filter: expected -and or -or, found '-eq' at position 25`},
		{`AuditEnabled -eq $false (Title -eq 1)`, `filter: expected -and or -or, found '(' at position 25`},
		{`(AuditEnabled -eq $false Department)`, `filter: expected -and, -or or ')', found 'Department' at position 26`},
		{`Department -eq 'a' 'b'`, `filter: expected -and or -or, found string 'b' at position 20`},

		{`(AuditEnabled -eq $false`, `filter: unbalanced parenthesis at position 1`},
		{`AuditEnabled -eq $false -and (Department -eq 'x'`, `filter: unbalanced parenthesis at position 30`},
		{`((AuditEnabled -eq $false)`, `filter: unbalanced parenthesis at position 1`},
		{`AuditEnabled -eq $false)`, `filter: unbalanced parenthesis at position 24`},
		{`(AuditEnabled -eq $false))`, `filter: unbalanced parenthesis at position 26`},
		{`) AuditEnabled -eq $false`, `filter: unbalanced parenthesis at position 1`},
		{`Department -eq )`, `filter: unbalanced parenthesis at position 16`},
		{`AuditEnabled)`, `filter: unbalanced parenthesis at position 13`},

		{`{AuditEnabled -eq $false`, `filter: unbalanced brace at position 1`},
		{`{`, `filter: unbalanced brace at position 1`},
		{`AuditEnabled -eq $false}`, `filter: unbalanced brace at position 24`},
		{`{AuditEnabled -eq $false} -and {Department -eq 'x'}`, `filter: unbalanced brace at position 25`},
		{`{{AuditEnabled -eq $false}}`, `filter: unbalanced brace at position 2`},

		{`Department -eq 'x`, `filter: unterminated string at position 16`},
		{`Department -eq "x''`, `filter: unterminated string at position 16`},
		{`'AuditEnabled -eq $false`, `filter: unterminated string at position 1`},

		{`AuditEnabled -eq $maybe`, `filter: unknown variable '$maybe' at position 18`},
		{`AuditEnabled -eq $`, `filter: unknown variable '$' at position 18`},
		{`AuditEnabled -eq $True_`, `filter: unknown variable '$True_' at position 18`},

		{`Department -like $null`, `filter: '$null' can only be compared with -eq or -ne at position 18`},
		{`ItemCount -gt $TRUE`, `filter: '$TRUE' can only be compared with -eq or -ne at position 15`},
		{`AuditEnabled -notlike $false`, `filter: '$false' can only be compared with -eq or -ne at position 23`},

		{deepParens, `filter: nesting deeper than 100 levels at position 101`},
		{deepNots, `filter: nesting deeper than 100 levels at position 501`},
	}
	for _, tt := range tests {
		f, err := Parse(tt.expr, known)
		if err == nil {
			t.Errorf("Parse(%q) = %s, want error %s", tt.expr, f, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tt.expr, err, tt.want)
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): error is a %T, not a *SyntaxError", tt.expr, err)
		}
	}
}

func TestNestingLimit(t *testing.T) {
	expr := strings.Repeat("(-not ", 50) + "Title -eq 1" + strings.Repeat(")", 50)
	if _, err := Parse(expr, known); err != nil {
		t.Errorf("100 levels: %v", err)
	}
}

func TestUnknownWithoutKnown(t *testing.T) {
	_, err := Parse(`Department -eq 'x'`, nil)
	if err == nil || err.Error() != `filter: unknown property 'Department' at position 1` {
		t.Errorf("Parse with no known properties: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`AuditEnabled -eq $false`,
		`{AuditEnabled -eq $false}`,
		`"{Department -ne 'x'}"`,
		`'DisplayName -eq ''Alice O''''Brien'''`,
		`(ItemCount -gt 1000 -or Department -eq 'Sales') -and -not(AuditEnabled -eq $true)`,
		`EmailAddresses -like '*@example.org' -and WhenCreated -ge '2026-03-15T10:00:00Z'`,
		`Department –eq ‘Accounting’`,
		`CustomAttribute1 -lt -1.5`,
		`((Title -eq $null)`,
		`Departmnt -equals`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := Parse(expr, known)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): error is a %T", expr, err)
			}
			if n := utf8.RuneCountInString(expr); se.Pos < 1 || se.Pos > n+1 {
				t.Fatalf("Parse(%q): position %d outside 1..%d", expr, se.Pos, n+1)
			}
			return
		}
		s := flt.String()
		again, err := Parse(s, known)
		if err != nil {
			t.Fatalf("Parse(%q) normalised to %q, which does not parse: %v", expr, s, err)
		}
		if s2 := again.String(); s2 != s {
			t.Fatalf("Parse(%q) normalised to %q, which normalises to %q", expr, s, s2)
		}
		if flt.Match(alice) != again.Match(alice) {
			t.Fatalf("Parse(%q) and its normalised form %q match differently", expr, s)
		}
	})
}
