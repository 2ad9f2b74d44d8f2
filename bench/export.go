package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ExportConfig is an export benchmark: the real command line exporting the
// records of a store, in each format, as a separate process whose memory is
// sampled while it runs, the way an operator watching top would see it.
type ExportConfig struct {
	// Data is the data directory of a store built by bench --keep (or by
	// bench --non-owner-report).
	Data string
	// Binary is the mailaudit to run (default: this one).
	Binary  string
	Formats []string
	// Sizes are the numbers of records to export, newest first (0: all of
	// them), so that memory can be compared across sizes: a streaming
	// export's does not grow with them.
	Sizes []int
	// Server, when set, also exports through a daemon (mailaudit serve on
	// Data, in a process of its own, with retention off) with --server, and
	// samples the daemon's memory too.
	Server bool
}

// Memory is a process's resident memory in bytes, as /proc/PID/status
// splits it: Anon is the process's own (heap, stacks), File the pages of
// files it maps (the store's database, which SQLite reads through mmap when
// it may), which the kernel can drop and read again at any time.
type Memory struct {
	RSS, Anon, File int64
}

func (m *Memory) max(o Memory) {
	m.RSS, m.Anon, m.File = max(m.RSS, o.RSS), max(m.Anon, o.Anon), max(m.File, o.File)
}

// ExportResult is one format's export of one size.
type ExportResult struct {
	Format  string
	Via     string // "local" or "server"
	Size    int    // records asked for; 0 all
	Records int64  // records written
	Bytes   int64
	// FirstByte is how long until the first byte of output: a streaming
	// export starts at once, whatever the size.
	FirstByte time.Duration
	Total     time.Duration
	// Peak is the exporting process's peak memory; AtHalf its memory when
	// half the output was written, to show it flat.
	Peak, AtHalf Memory
	// ServerPeak is the daemon's (Via "server").
	ServerPeak Memory
}

// Export runs `search-unified-audit-log --result-size N -o FORMAT` over the
// store, for each size, format and way (local, server).
func Export(ctx context.Context, cfg ExportConfig) ([]ExportResult, error) {
	bin := cfg.Binary
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	if len(cfg.Sizes) == 0 {
		cfg.Sizes = []int{0}
	}
	var out []ExportResult
	for _, size := range cfg.Sizes {
		for _, format := range cfg.Formats {
			r, err := exportOnce(ctx, bin, []string{"--data", cfg.Data}, format, size, 0)
			if err != nil {
				return nil, err
			}
			r.Via = "local"
			out = append(out, r)
		}
	}
	if !cfg.Server {
		return out, nil
	}
	srv, err := startExportServer(ctx, bin, cfg.Data)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	for _, size := range cfg.Sizes {
		for _, format := range cfg.Formats {
			r, err := exportOnce(ctx, bin, []string{"--server", srv.url, "--token", srv.token}, format, size, srv.cmd.Process.Pid)
			if err != nil {
				return nil, err
			}
			r.Via = "server"
			out = append(out, r)
		}
	}
	return out, nil
}

// exportOnce runs one export; serverPid, when not 0, is a daemon whose
// memory is sampled too.
func exportOnce(ctx context.Context, bin string, global []string, format string, size int, serverPid int) (ExportResult, error) {
	rs := "unlimited"
	if size > 0 {
		rs = strconv.Itoa(size)
	}
	args := append(append([]string{}, global...), "search-unified-audit-log", "--start", "2000-01-01", "--end", "2100-01-01",
		"--result-size", rs, "-o", format)
	cmd := exec.CommandContext(ctx, bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return ExportResult{}, err
	}
	cmd.Stderr = os.Stderr
	r := ExportResult{Format: format, Size: size}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	var written atomic.Int64 // bytes of output so far, for the samples
	var mu sync.Mutex
	var samples []struct {
		bytes int64
		mem   Memory
	}
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { close(stopSampling) }); <-sampled }
	defer stop()
	go func() {
		defer close(sampled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			m, err := readMemory(cmd.Process.Pid)
			if err == nil {
				mu.Lock()
				r.Peak.max(m)
				samples = append(samples, struct {
					bytes int64
					mem   Memory
				}{written.Load(), m})
				mu.Unlock()
			}
			if serverPid != 0 {
				if m, err := readMemory(serverPid); err == nil {
					mu.Lock()
					r.ServerPeak.max(m)
					mu.Unlock()
				}
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()
	br := bufio.NewReaderSize(stdout, 1<<20)
	if _, err := br.Peek(1); err == nil {
		r.FirstByte = time.Since(began)
	}
	count := recordCounter(format)
	buf := make([]byte, 1<<20)
	for {
		n, err := br.Read(buf)
		r.Bytes += int64(n)
		written.Store(r.Bytes)
		count.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return r, err
		}
	}
	stop()
	if err := cmd.Wait(); err != nil {
		return r, fmt.Errorf("bench: exporting %s: %w", format, err)
	}
	r.Total = time.Since(began)
	r.Records = count.records()
	// The sample nearest to half the output.
	for _, s := range samples {
		if s.bytes >= r.Bytes/2 {
			r.AtHalf = s.mem
			break
		}
	}
	return r, nil
}

// readMemory reads a process's resident memory from /proc.
func readMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for line := range strings.SplitSeq(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &m.RSS
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		default:
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		*dst = kb * 1024
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("bench: no VmRSS for pid %d", pid)
	}
	return m, nil
}

// counter counts the records in an export's output as it goes by.
type counter struct {
	format string
	n      int64
	tail   []byte // the end of the previous write, for a marker across two
}

func recordCounter(format string) *counter { return &counter{format: format} }

// eventMarker starts each record of SearchResult.xml.
var eventMarker = []byte("<Event ")

func (c *counter) Write(b []byte) {
	if c.format != "xml" {
		c.n += int64(bytes.Count(b, []byte{'\n'}))
		return
	}
	// A marker cut by two writes is found in the joined bytes. Only its
	// first byte is '<', so the kept end of one already counted (which
	// lacks that byte) is never counted again.
	joined := append(c.tail, b...)
	c.n += int64(bytes.Count(joined, eventMarker))
	c.tail = append(c.tail[:0], joined[max(0, len(joined)-len(eventMarker)+1):]...)
}

func (c *counter) records() int64 {
	if c.format == "csv" && c.n > 0 {
		return c.n - 1 // the header
	}
	return c.n
}

// exportServer is a mailaudit serve started on the store for the export.
type exportServer struct {
	cmd   *exec.Cmd
	url   string
	token string
	dir   string
}

// startExportServer runs the daemon on data with retention off (the store
// holds records older than their age limit), an auditor token of its own,
// and a loopback port.
func startExportServer(ctx context.Context, bin, data string) (*exportServer, error) {
	dir, err := os.MkdirTemp("", "mailaudit-export-")
	if err != nil {
		return nil, err
	}
	s := &exportServer{dir: dir}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	tokens := filepath.Join(dir, "tokens.json")
	conf := filepath.Join(dir, "mailaudit.toml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "data = %q\ntokens = %q\n[[listen]]\naddress = %q\n[retention]\ninterval = \"0s\"\n", data, tokens, addr), 0o600); err != nil {
		return nil, err
	}
	tok, err := exec.CommandContext(ctx, bin, "new-api-token", "bench-export", "--role", "auditor", "--tokens", tokens).Output()
	if err != nil {
		return nil, fmt.Errorf("bench: making a token: %w", err)
	}
	s.token = strings.TrimSpace(string(tok))
	s.url = "http://" + addr
	s.cmd = exec.CommandContext(ctx, bin, "serve", "--config", conf)
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return nil, err
	}
	// The daemon has its own copy of the file.
	defer logf.Close()
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			log, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
			return nil, fmt.Errorf("bench: the daemon did not start:\n%s", log)
		}
	}
}

func (s *exportServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		s.cmd.Wait()
	}
	os.RemoveAll(s.dir)
}

// PrintExport writes the results as docs/benchmarks.md shows them.
func PrintExport(w io.Writer, rs []ExportResult) {
	mb := func(n int64) string { return fmt.Sprintf("%.0f", float64(n)/1e6) }
	fmt.Fprintf(w, "%-6s %-6s %10s %11s %14s %10s %10s  %-22s %-22s %s\n", "via", "format", "asked", "records", "bytes",
		"first byte", "total", "peak MB (anon+file)", "at half MB (anon+file)", "daemon peak MB (anon+file)")
	for _, r := range rs {
		asked := "all"
		if r.Size > 0 {
			asked = strconv.Itoa(r.Size)
		}
		srv := "-"
		if r.Via == "server" {
			srv = fmt.Sprintf("%s (%s+%s)", mb(r.ServerPeak.RSS), mb(r.ServerPeak.Anon), mb(r.ServerPeak.File))
		}
		fmt.Fprintf(w, "%-6s %-6s %10s %11d %14d %10s %10s  %-22s %-22s %s\n", r.Via, r.Format, asked, r.Records, r.Bytes,
			r.FirstByte.Round(time.Millisecond), r.Total.Round(100*time.Millisecond),
			fmt.Sprintf("%s (%s+%s)", mb(r.Peak.RSS), mb(r.Peak.Anon), mb(r.Peak.File)),
			fmt.Sprintf("%s (%s+%s)", mb(r.AtHalf.RSS), mb(r.AtHalf.Anon), mb(r.AtHalf.File)), srv)
	}
}
