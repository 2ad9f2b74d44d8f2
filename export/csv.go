package export

import (
	"bytes"
	"encoding/csv"
	"io"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

// csvWriter writes the Microsoft 365 audit log search export.
type csvWriter struct {
	state
	w   io.Writer
	buf bytes.Buffer
	csv *csv.Writer
	enc *encoder
	row [4]string
}

func newCSVWriter(w io.Writer, opt Options) *csvWriter {
	cw := &csvWriter{w: w, enc: newEncoder(opt, timeRFC3339)}
	// Rows are rendered into a buffer and handed on whole, so that each
	// record reaches w in one Write, as with the other formats.
	cw.csv = csv.NewWriter(&cw.buf)
	return cw
}

var csvHeader = []string{"CreationDate", "UserIds", "Operations", "AuditData"}

func (cw *csvWriter) Write(r *audit.Record) error {
	if err := cw.check(r); err != nil {
		return err
	}
	cw.buf.Reset()
	if !cw.started {
		cw.csv.Write(csvHeader)
		cw.started = true
	}
	data, err := cw.enc.encode(r)
	if err != nil {
		return err
	}
	cw.row = [4]string{
		r.CreationTime.UTC().Format(time.RFC3339),
		r.UserId,
		r.Operation,
		string(bytes.TrimSuffix(data, []byte("\n"))),
	}
	cw.csv.Write(cw.row[:])
	cw.csv.Flush()
	if err := cw.csv.Error(); err != nil {
		return err
	}
	_, err = cw.w.Write(cw.buf.Bytes())
	return err
}

func (cw *csvWriter) Close() error {
	if cw.closed {
		return nil
	}
	cw.closed = true
	if cw.started {
		return nil
	}
	// An export that found nothing is still a CSV file with its header.
	cw.buf.Reset()
	cw.csv.Write(csvHeader)
	cw.csv.Flush()
	if err := cw.csv.Error(); err != nil {
		return err
	}
	_, err := cw.w.Write(cw.buf.Bytes())
	return err
}
