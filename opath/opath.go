// Package opath parses and evaluates the filters of Exchange's Get-Mailbox
// -Filter (OPATH), so that administrators can bring the filters they already
// use in PowerShell to mailaudit unchanged.
//
// The accepted grammar, keywords case-insensitive:
//
//	filter     = [quote] ["{"] or ["}"] [quote]
//	or         = and { "-or" and }
//	and        = not { "-and" not }
//	not        = "-not" not | "(" or ")" | comparison
//	comparison = property operator value
//	operator   = "-eq" | "-ne" | "-like" | "-notlike" | "-gt" | "-lt" | "-ge" | "-le"
//	value      = 'single' | "double" | $true | $false | $null | bareword
//
// The outer quotes and braces are what PowerShell needs around a filter
// ('…', "…", {…}); admins paste them along, so they are peeled off rather
// than refused. A quoted filter is read as PowerShell reads the string, a
// doubled quote standing for one, so that what works in PowerShell works here
// and errors point at the same mistakes. -not binds to the comparison after it
// (-not A -eq 1 is -not (A -eq 1)), as in OPATH and unlike PowerShell
// expressions.
//
// Typographic quotes (‘’‚‛ “”„) and dashes (– — ―) count as their ASCII
// forms, as in PowerShell: filters are often copied from documents and web
// pages that have "improved" them.
//
// Semantics follow Exchange, which translates filters to LDAP: a property
// that is unset or empty matches no comparison except -eq $null (or -eq with
// an empty string), so -ne, -notlike and -not match it, and -like '*' is the
// idiom for "is set". Only * is a wildcard. Positions in errors count
// characters (not bytes) of the input as typed, before any quotes or braces
// are peeled, so that they point into what the admin wrote.
package opath

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Object is what a filter is evaluated against.
type Object interface {
	// Property returns the value of a property by its canonical name: string,
	// bool, int, int64, time.Time, []string, or nil when unset.
	Property(name string) any
}

// SyntaxError is a filter that cannot be parsed.
type SyntaxError struct {
	Pos int    // 1-based position, in characters, in the input as typed
	Msg string // what is wrong, without the position
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("filter: %s at position %d", e.Msg, e.Pos)
}

// Filter is a parsed filter. A nil *Filter matches every object.
type Filter struct {
	root node
}

// maxNesting bounds parentheses and -not so that hostile input (the HTTP API
// takes filters too) cannot exhaust the stack; real filters nest a few levels.
const maxNesting = 100

// Parse parses a filter. known lists the property names that may be used
// (matched case-insensitively; the canonical spelling is the one in known, and
// that canonical name is what Property receives).
func Parse(expr string, known []string) (*Filter, error) {
	src, err := unwrap(expr)
	if err != nil {
		return nil, err
	}
	if len(src.r) == 0 {
		return nil, &SyntaxError{Pos: src.end, Msg: "empty filter"}
	}
	names := make(map[string]string, len(known))
	for _, k := range known {
		if _, dup := names[fold(k)]; !dup {
			names[fold(k)] = k
		}
	}
	p := &parser{lex: lexer{s: src}, names: names}
	if err := p.advance(); err != nil {
		return nil, err
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.expected("-and or -or")
	}
	return &Filter{root: root}, nil
}

// Match evaluates the filter against an object.
func (f *Filter) Match(o Object) bool {
	if f == nil {
		return true
	}
	return f.root.match(o)
}

// String returns the filter in normalised form (for messages/logs): canonical
// property names, lower-case keywords, values in single quotes (numbers bare),
// and only the parentheses that precedence needs. It parses back to the same
// filter.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	var b strings.Builder
	f.root.format(&b)
	return b.String()
}

// source is filter text that keeps, for every character, where it was in the
// input as typed, so that errors can point there after quotes and braces have
// been peeled and doubled quotes read as one.
type source struct {
	r   []rune
	pos []int // pos[i] is the 1-based position of r[i] in the input
	end int   // the position reported for the end of the filter
}

func (s source) trim() source {
	i, j := 0, len(s.r)
	for j > 0 && unicode.IsSpace(s.r[j-1]) {
		j--
	}
	for i < j && unicode.IsSpace(s.r[i]) {
		i++
	}
	end := s.end
	if j < len(s.r) {
		end = s.pos[j]
	}
	return source{r: s.r[i:j], pos: s.pos[i:j], end: end}
}

// unwrap peels the quotes and braces that PowerShell needs around a filter:
// at most one pair of each, in either order.
func unwrap(expr string) (source, error) {
	r := []rune(expr)
	pos := make([]int, len(r))
	for i := range pos {
		pos[i] = i + 1
	}
	s := source{r: r, pos: pos, end: len(r) + 1}.trim()
	quoted, braced := false, false
	for {
		n := len(s.r)
		switch {
		case !quoted && n >= 2 && quoteClass(s.r[0]) != 0:
			text, tpos, next := scanString(s.r, s.pos, 0)
			if next != n {
				// 'Department' -eq 'x' and the like: leave the
				// string for the parser to refuse where it stands.
				return s, nil
			}
			s = source{r: text, pos: tpos, end: s.pos[n-1]}.trim()
			quoted = true
		case !braced && n >= 1 && s.r[0] == '{':
			if n < 2 || s.r[n-1] != '}' {
				return source{}, &SyntaxError{Pos: s.pos[0], Msg: "unbalanced brace"}
			}
			s = source{r: s.r[1 : n-1], pos: s.pos[1 : n-1], end: s.pos[n-1]}.trim()
			braced = true
		default:
			return s, nil
		}
	}
}

// quoteClass is 1 for the single quotes, 2 for the double quotes and 0 for
// anything else. PowerShell treats the typographic forms as the ASCII ones.
func quoteClass(r rune) int {
	switch r {
	case '\'', '‘', '’', '‚', '‛':
		return 1
	case '"', '“', '”', '„':
		return 2
	}
	return 0
}

func isDash(r rune) bool {
	return r == '-' || r == '–' || r == '—' || r == '―'
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// scanString reads the quoted string that starts at r[i], where a doubled
// quote stands for one. It returns the text, the position of each of its
// characters, and the index just past the closing quote, or -1 when the string
// is not closed.
func scanString(r []rune, pos []int, i int) (text []rune, tpos []int, next int) {
	q := quoteClass(r[i])
	for i++; i < len(r); i++ {
		if quoteClass(r[i]) == q {
			if i+1 < len(r) && quoteClass(r[i+1]) == q {
				text = append(text, r[i])
				tpos = append(tpos, pos[i])
				i++
				continue
			}
			return text, tpos, i + 1
		}
		text = append(text, r[i])
		tpos = append(tpos, pos[i])
	}
	return nil, nil, -1
}

type kind int

const (
	tEOF    kind = iota
	tLParen      // (
	tRParen      // )
	tOp          // -word: an operator or a combinator
	tString      // quoted
	tWord        // bare: a property name or a value
	tVar         // $true, $false, $null
)

type token struct {
	kind kind
	text string // lower-case for tOp and tVar, unquoted for tString
	src  string // as written
	pos  int
}

// describe names a token for "found …" in messages.
func describe(t token) string {
	if t.kind == tString {
		return "string " + t.src
	}
	return "'" + t.src + "'"
}

type lexer struct {
	s source
	i int
}

func (l *lexer) next() (token, error) {
	r := l.s.r
	for l.i < len(r) && unicode.IsSpace(r[l.i]) {
		l.i++
	}
	if l.i >= len(r) {
		return token{kind: tEOF, pos: l.s.end}, nil
	}
	start := l.i
	c := r[start]
	t := token{pos: l.s.pos[start]}
	switch {
	case c == '(':
		t.kind = tLParen
		l.i++
	case c == ')':
		t.kind = tRParen
		l.i++
	case c == '{' || c == '}':
		return token{}, &SyntaxError{Pos: t.pos, Msg: "unbalanced brace"}
	case quoteClass(c) != 0:
		text, _, next := scanString(r, l.s.pos, start)
		if next < 0 {
			return token{}, &SyntaxError{Pos: t.pos, Msg: "unterminated string"}
		}
		t.kind, t.text = tString, string(text)
		l.i = next
	case isDash(c) && start+1 < len(r) && unicode.IsLetter(r[start+1]):
		// A dash and a digit is a negative number, not an operator.
		for l.i++; l.i < len(r) && isWordRune(r[l.i]); l.i++ {
		}
		t.kind, t.text = tOp, "-"+strings.ToLower(string(r[start+1:l.i]))
	case c == '$':
		for l.i++; l.i < len(r) && isWordRune(r[l.i]); l.i++ {
		}
		t.kind, t.text = tVar, strings.ToLower(string(r[start:l.i]))
		if t.text != "$true" && t.text != "$false" && t.text != "$null" {
			return token{}, &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("unknown variable '%s'", string(r[start:l.i]))}
		}
	default:
		for l.i < len(r) && !isDelim(r[l.i]) {
			l.i++
		}
		t.kind, t.text = tWord, string(r[start:l.i])
	}
	t.src = string(r[start:l.i])
	return t, nil
}

func isDelim(r rune) bool {
	return unicode.IsSpace(r) || r == '(' || r == ')' || r == '{' || r == '}' || quoteClass(r) != 0
}

type op int

const (
	opEq op = iota
	opNe
	opLike
	opNotLike
	opGt
	opLt
	opGe
	opLe
)

var ops = map[string]op{
	"-eq": opEq, "-ne": opNe, "-like": opLike, "-notlike": opNotLike,
	"-gt": opGt, "-lt": opLt, "-ge": opGe, "-le": opLe,
}

var opNames = [...]string{"-eq", "-ne", "-like", "-notlike", "-gt", "-lt", "-ge", "-le"}

func isKeyword(s string) bool {
	_, isOp := ops[s]
	return isOp || s == "-and" || s == "-or" || s == "-not"
}

type parser struct {
	lex     lexer
	tok     token
	names   map[string]string // folded name → canonical name
	parens  int               // open parentheses, to tell a stray ')' from an empty group
	nesting int
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// expected reports that the current token is not what the grammar allows
// there, naming the more specific mistake when there is one.
func (p *parser) expected(what string) error {
	t := p.tok
	switch {
	case t.kind == tEOF:
		return &SyntaxError{Pos: t.pos, Msg: "expected " + what}
	case t.kind == tOp && !isKeyword(t.text):
		return &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("unknown operator '%s'", t.src)}
	case t.kind == tRParen && p.parens == 0:
		return &SyntaxError{Pos: t.pos, Msg: "unbalanced parenthesis"}
	}
	return &SyntaxError{Pos: t.pos, Msg: "expected " + what + ", found " + describe(t)}
}

func (p *parser) nest() error {
	p.nesting++
	if p.nesting > maxNesting {
		return &SyntaxError{Pos: p.tok.pos, Msg: fmt.Sprintf("nesting deeper than %d levels", maxNesting)}
	}
	return nil
}

func (p *parser) parseOr() (node, error) {
	var list orNode
	for {
		n, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		if sub, ok := n.(orNode); ok {
			list = append(list, sub...)
		} else {
			list = append(list, n)
		}
		if p.tok.kind != tOp || p.tok.text != "-or" {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if len(list) == 1 {
		return list[0], nil
	}
	return list, nil
}

func (p *parser) parseAnd() (node, error) {
	var list andNode
	for {
		n, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		if sub, ok := n.(andNode); ok {
			list = append(list, sub...)
		} else {
			list = append(list, n)
		}
		if p.tok.kind != tOp || p.tok.text != "-and" {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if len(list) == 1 {
		return list[0], nil
	}
	return list, nil
}

func (p *parser) parseNot() (node, error) {
	if p.tok.kind != tOp || p.tok.text != "-not" {
		return p.parsePrimary()
	}
	if err := p.nest(); err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	p.nesting--
	return notNode{x}, nil
}

func (p *parser) parsePrimary() (node, error) {
	switch p.tok.kind {
	case tLParen:
		open := p.tok.pos
		if err := p.nest(); err != nil {
			return nil, err
		}
		p.parens++
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		switch p.tok.kind {
		case tRParen:
		case tEOF:
			return nil, &SyntaxError{Pos: open, Msg: "unbalanced parenthesis"}
		default:
			return nil, p.expected("-and, -or or ')'")
		}
		p.parens--
		p.nesting--
		if err := p.advance(); err != nil {
			return nil, err
		}
		return x, nil
	case tWord:
		return p.parseComparison()
	}
	return nil, p.expected("a property name")
}

func (p *parser) parseComparison() (node, error) {
	name, ok := p.names[fold(p.tok.text)]
	if !ok {
		return nil, &SyntaxError{Pos: p.tok.pos, Msg: fmt.Sprintf("unknown property '%s'", p.tok.src)}
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	o, ok := ops[p.tok.text]
	if p.tok.kind != tOp || !ok {
		return nil, p.expected("a comparison operator")
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	t := p.tok
	var v value
	switch t.kind {
	case tString, tWord:
		v = newValue(t.text, t.kind == tString)
	case tVar:
		if o != opEq && o != opNe {
			return nil, &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("'%s' can only be compared with -eq or -ne", t.src)}
		}
		switch t.text {
		case "$true":
			v = newValue("True", false)
		case "$false":
			v = newValue("False", false)
		default:
			v = value{null: true}
		}
		v.variable = t.text
	default:
		return nil, p.expected("a value")
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return &comparison{prop: name, op: o, val: v}, nil
}

// value is the right-hand side of a comparison, with every reading of it
// worked out once at parse time rather than for each object.
type value struct {
	text     string
	quoted   bool
	variable string // "$true", "$false", "$null" as normalised, or ""
	null     bool   // $null, or '': matches unset and empty properties only

	folded string
	like   []string // folded, split at '*'
	b      bool
	isBool bool
	num    number
	isNum  bool
	t      time.Time
	isTime bool
}

func newValue(text string, quoted bool) value {
	v := value{text: text, quoted: quoted, null: text == "", folded: fold(text)}
	v.like = strings.Split(v.folded, "*")
	switch v.folded {
	case "true":
		v.b, v.isBool = true, true
	case "false":
		v.b, v.isBool = false, true
	}
	v.num, v.isNum = parseNumber(text)
	v.t, v.isTime = parseTime(text)
	return v
}

func (v value) String() string {
	switch {
	case v.variable != "":
		return v.variable
	case !v.quoted && v.isNum:
		return v.text
	}
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range v.text {
		if quoteClass(r) == 1 {
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

type number struct {
	i     int64
	f     float64
	isInt bool
}

func (a number) compare(b number) int {
	if a.isInt && b.isInt {
		return cmp.Compare(a.i, b.i)
	}
	return cmp.Compare(a.f, b.f)
}

// parseNumber takes plain decimals only: strconv alone would also read "NaN",
// "Inf" and "0x1p4", which here are words.
func parseNumber(s string) (number, bool) {
	digits, dot := 0, false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case (r == '-' || r == '+') && i == 0:
		case r == '.' && !dot:
			dot = true
		default:
			return number{}, false
		}
	}
	if digits == 0 {
		return number{}, false
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return number{i: i, f: float64(i), isInt: true}, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return number{}, false
	}
	return number{f: f}, true
}

func numberOf(x any) (number, bool) {
	switch x := x.(type) {
	case int:
		return number{i: int64(x), f: float64(x), isInt: true}, true
	case int8:
		return number{i: int64(x), f: float64(x), isInt: true}, true
	case int16:
		return number{i: int64(x), f: float64(x), isInt: true}, true
	case int32:
		return number{i: int64(x), f: float64(x), isInt: true}, true
	case int64:
		return number{i: x, f: float64(x), isInt: true}, true
	case uint:
		return numberOfUint(uint64(x)), true
	case uint8:
		return numberOfUint(uint64(x)), true
	case uint16:
		return numberOfUint(uint64(x)), true
	case uint32:
		return numberOfUint(uint64(x)), true
	case uint64:
		return numberOfUint(x), true
	case float32:
		return number{f: float64(x)}, true
	case float64:
		return number{f: x}, true
	}
	return number{}, false
}

func numberOfUint(x uint64) number {
	if x <= 1<<63-1 {
		return number{i: int64(x), f: float64(x), isInt: true}
	}
	return number{f: float64(x)}
}

// parseTime reads the forms the CLI takes for times elsewhere; a bare date is
// midnight UTC.
func parseTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// fold maps a string so that two strings fold to the same one exactly when
// strings.EqualFold holds between them, which -like and the orderings need.
func fold(s string) string {
	return strings.Map(foldRune, s)
}

func foldRune(r rune) rune {
	if r < 0x80 {
		return unicode.ToLower(r)
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	if m < 0x80 {
		return unicode.ToLower(m)
	}
	return m
}

// text is how a property value reads when compared as a string.
func text(x any) string {
	switch x := x.(type) {
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(x)
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []string:
		for _, e := range v {
			if e != "" {
				return false
			}
		}
		return true
	case time.Time:
		return v.IsZero()
	}
	return false
}

// anyOf reports whether f holds for the value or, for a multi-valued
// property, for any of its elements. Empty values are absent ones.
func anyOf(v any, f func(any) bool) bool {
	if isEmpty(v) {
		return false
	}
	if list, ok := v.([]string); ok {
		for _, e := range list {
			if e != "" && f(e) {
				return true
			}
		}
		return false
	}
	return f(v)
}

type node interface {
	match(Object) bool
	format(*strings.Builder)
}

type orNode []node

func (n orNode) match(o Object) bool {
	for _, x := range n {
		if x.match(o) {
			return true
		}
	}
	return false
}

func (n orNode) format(b *strings.Builder) {
	for i, x := range n {
		if i > 0 {
			b.WriteString(" -or ")
		}
		x.format(b)
	}
}

type andNode []node

func (n andNode) match(o Object) bool {
	for _, x := range n {
		if !x.match(o) {
			return false
		}
	}
	return true
}

func (n andNode) format(b *strings.Builder) {
	for i, x := range n {
		if i > 0 {
			b.WriteString(" -and ")
		}
		if _, ok := x.(orNode); ok {
			b.WriteByte('(')
			x.format(b)
			b.WriteByte(')')
		} else {
			x.format(b)
		}
	}
}

type notNode struct{ x node }

func (n notNode) match(o Object) bool { return !n.x.match(o) }

func (n notNode) format(b *strings.Builder) {
	b.WriteString("-not(")
	n.x.format(b)
	b.WriteByte(')')
}

type comparison struct {
	prop string
	op   op
	val  value
}

func (c *comparison) format(b *strings.Builder) {
	b.WriteString(c.prop)
	b.WriteByte(' ')
	b.WriteString(opNames[c.op])
	b.WriteByte(' ')
	b.WriteString(c.val.String())
}

func (c *comparison) match(o Object) bool {
	v := o.Property(c.prop)
	switch c.op {
	case opEq:
		return c.eq(v)
	case opNe:
		return !c.eq(v)
	case opLike:
		return c.like(v)
	case opNotLike:
		return !c.like(v)
	}
	return anyOf(v, func(x any) bool {
		r, ok := c.compare(x)
		if !ok {
			return false
		}
		switch c.op {
		case opGt:
			return r > 0
		case opLt:
			return r < 0
		case opGe:
			return r >= 0
		default:
			return r <= 0
		}
	})
}

func (c *comparison) eq(v any) bool {
	if c.val.null {
		return isEmpty(v)
	}
	return anyOf(v, func(x any) bool {
		switch x := x.(type) {
		case string:
			return fold(x) == c.val.folded
		case bool:
			return c.val.isBool && x == c.val.b
		case time.Time:
			return c.val.isTime && x.Equal(c.val.t)
		}
		if n, ok := numberOf(x); ok {
			return c.val.isNum && n.compare(c.val.num) == 0
		}
		return fold(text(x)) == c.val.folded
	})
}

func (c *comparison) like(v any) bool {
	if c.val.null {
		return isEmpty(v)
	}
	return anyOf(v, func(x any) bool { return glob(c.val.like, fold(text(x))) })
}

// compare orders a property value against the value: as times when the
// property is one, as numbers when both read as numbers, else as folded
// strings. A time property and a value that is no time do not compare.
func (c *comparison) compare(x any) (int, bool) {
	if t, ok := x.(time.Time); ok {
		if !c.val.isTime {
			return 0, false
		}
		return t.Compare(c.val.t), true
	}
	if c.val.isNum {
		n, ok := numberOf(x)
		if s, isString := x.(string); isString {
			n, ok = parseNumber(s)
		}
		if ok {
			return n.compare(c.val.num), true
		}
	}
	return strings.Compare(fold(text(x)), c.val.folded), true
}

// glob matches s against a pattern split at its stars. Taking each middle
// part at its leftmost occurrence is enough when * is the only wildcard.
func glob(parts []string, s string) bool {
	if len(parts) == 1 {
		return s == parts[0]
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
