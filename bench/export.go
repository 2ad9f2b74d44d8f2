package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ExportConfig is an export benchmark: the real command line exporting every
// record of a store, in each format, as a separate process whose peak
// resident memory the kernel reports.
type ExportConfig struct {
	// Data is the data directory of a store built by bench --keep.
	Data string
	// Binary is the mailaudit to run (default: this one).
	Binary  string
	Formats []string
}

// ExportResult is one format's export.
type ExportResult struct {
	Format string
	Bytes  int64
	Lines  int64
	// FirstByte is how long until the first byte of output: a streaming
	// export starts at once, whatever the size.
	FirstByte time.Duration
	Total     time.Duration
	// MaxRSS is the export process's peak resident set, in bytes.
	MaxRSS int64
}

// Export times `search-unified-audit-log --result-size unlimited -o FORMAT`
// over the whole store, for each format.
func Export(ctx context.Context, cfg ExportConfig) ([]ExportResult, error) {
	bin := cfg.Binary
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	var out []ExportResult
	for _, format := range cfg.Formats {
		cmd := exec.CommandContext(ctx, bin, "--data", cfg.Data, "search-unified-audit-log",
			"--start", "2000-01-01", "--result-size", "unlimited", "-o", format)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		cmd.Stderr = os.Stderr
		began := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		r := ExportResult{Format: format}
		br := bufio.NewReaderSize(stdout, 1<<20)
		if _, err := br.Peek(1); err == nil {
			r.FirstByte = time.Since(began)
		}
		buf := make([]byte, 1<<20)
		for {
			n, err := br.Read(buf)
			r.Bytes += int64(n)
			for _, c := range buf[:n] {
				if c == '\n' {
					r.Lines++
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
		}
		if err := cmd.Wait(); err != nil {
			return nil, fmt.Errorf("bench: exporting %s: %w", format, err)
		}
		r.Total = time.Since(began)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.MaxRSS = ru.Maxrss * 1024 // Linux reports kilobytes
		}
		out = append(out, r)
	}
	return out, nil
}

// PrintExport writes the results as docs/benchmarks.md shows them.
func PrintExport(w io.Writer, rs []ExportResult) {
	fmt.Fprintf(w, "%-6s %14s %12s %10s %10s %10s\n", "format", "bytes", "lines", "first byte", "total", "peak RSS")
	for _, r := range rs {
		fmt.Fprintf(w, "%-6s %14d %12d %10s %10s %8.1f MB\n", r.Format, r.Bytes, r.Lines,
			r.FirstByte.Round(time.Millisecond), r.Total.Round(100*time.Millisecond), float64(r.MaxRSS)/1e6)
	}
}
