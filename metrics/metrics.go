// Package metrics holds what mailaudit serve exposes to Prometheus on
// /metrics. Every family is prefixed mailaudit_; a source is labelled by the
// name it runs under ("dovecot:/var/log/dovecot-audit.log", "api:<token>").
//
//	mailaudit_activity_read_total{source}          activity lines or events read
//	mailaudit_activity_recorded_total{source}      made a new record
//	mailaudit_activity_aggregated_total{source}    counted into a MailItemsAccessed record
//	mailaudit_activity_not_audited_total{source,reason}
//	mailaudit_activity_duplicates_total{source}
//	mailaudit_activity_refused_total{source}       malformed or invalid, with a message in the log
//	mailaudit_source_unknown_events_total{source,event}  Dovecot events of a name the source does not use
//	mailaudit_source_lag_bytes{source}             log bytes written but not yet recorded
//	mailaudit_source_last_commit_timestamp_seconds{source}
//	mailaudit_search_duration_seconds{search}      mailbox, unified, admin
//	mailaudit_search_deliveries_total{outcome}     background searches' mail: delivered, retried, failed
//	mailaudit_http_requests_total{route,code}
//	mailaudit_store_bytes                          size of the store's files
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mailaudit/mailaudit/service"
)

// Metrics is one daemon's registry. It is not the global one, so that tests
// can run several daemons in one process.
type Metrics struct {
	reg *prometheus.Registry

	read, recorded, aggregated, duplicates, refused *prometheus.CounterVec
	notAudited, unknownEvents                       *prometheus.CounterVec
	lag, lastCommit                                 *prometheus.GaugeVec
	search                                          *prometheus.HistogramVec
	requests                                        *prometheus.CounterVec
	deliveries                                      *prometheus.CounterVec
}

// New makes the registry; storeBytes is read at every scrape.
func New(storeBytes func() int64) *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mailaudit", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		reg:        prometheus.NewRegistry(),
		read:       counter("activity_read_total", "Activity read by a source.", "source"),
		recorded:   counter("activity_recorded_total", "Activity that made a new audit record.", "source"),
		aggregated: counter("activity_aggregated_total", "Activity counted into a MailItemsAccessed record.", "source"),
		notAudited: counter("activity_not_audited_total", "Activity the audit policy does not record, by reason.", "source", "reason"),
		duplicates: counter("activity_duplicates_total", "Activity already recorded (same Source and SourceEventId).", "source"),
		refused:    counter("activity_refused_total", "Activity refused as malformed or invalid.", "source"),
		unknownEvents: counter("source_unknown_events_total",
			"Exported Dovecot events of a name the source does not use (the first of each name is logged).", "source", "event"),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "mailaudit", Name: "source_lag_bytes",
			Help: "Bytes of a source's log written but not yet recorded."}, []string{"source"}),
		lastCommit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "mailaudit", Name: "source_last_commit_timestamp_seconds",
			Help: "When a source's activity was last committed (Unix time)."}, []string{"source"}),
		search: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "mailaudit", Name: "search_duration_seconds",
			Help:    "Time to answer a search, from request to last record.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"search"}),
		requests: counter("http_requests_total", "HTTP API requests by route and status.", "route", "code"),
		deliveries: counter("search_deliveries_total",
			"Attempts to mail a background search's result, by outcome: delivered, retried (failed, to be tried again) or failed (given up, or refused for good).", "outcome"),
	}
	// Every outcome is exported from the start, so that an alert on
	// failed has a series to watch before the first failure.
	for _, o := range []string{service.DeliveryDelivered, service.DeliveryRetried, service.DeliveryFailed} {
		m.deliveries.WithLabelValues(o)
	}
	m.reg.MustRegister(m.read, m.recorded, m.aggregated, m.notAudited, m.duplicates, m.refused, m.unknownEvents,
		m.lag, m.lastCommit, m.search, m.requests, m.deliveries,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "mailaudit", Name: "store_bytes",
			Help: "Size of the store's files on disk."}, func() float64 { return float64(storeBytes()) }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Ingested counts what a source's batch did.
func (m *Metrics) Ingested(source string, rep *service.IngestReport) {
	if m == nil || rep == nil {
		return
	}
	m.read.WithLabelValues(source).Add(float64(rep.Read))
	m.recorded.WithLabelValues(source).Add(float64(rep.Recorded))
	m.aggregated.WithLabelValues(source).Add(float64(rep.Aggregated))
	m.duplicates.WithLabelValues(source).Add(float64(rep.Duplicates))
	m.refused.WithLabelValues(source).Add(float64(len(rep.Refused)))
	for reason, n := range rep.Reasons {
		m.notAudited.WithLabelValues(source, reason).Add(float64(n))
	}
	m.lastCommit.WithLabelValues(source).Set(float64(time.Now().Unix()))
}

// Refused counts lines a source refused before they reached the service.
func (m *Metrics) Refused(source string, n int) {
	if m != nil {
		m.refused.WithLabelValues(source).Add(float64(n))
	}
}

// UnknownEvent counts an event of a name the source does not use.
func (m *Metrics) UnknownEvent(source, event string) {
	if m != nil {
		m.unknownEvents.WithLabelValues(source, event).Inc()
	}
}

// Lag sets how far a source is behind its log.
func (m *Metrics) Lag(source string, bytes int64) {
	if m != nil {
		m.lag.WithLabelValues(source).Set(float64(bytes))
	}
}

// Searched observes a search's duration.
func (m *Metrics) Searched(kind string, d time.Duration) {
	if m != nil {
		m.search.WithLabelValues(kind).Observe(d.Seconds())
	}
}

// SearchDelivery counts an attempt to mail a background search's result
// (service.Runner.Observe).
func (m *Metrics) SearchDelivery(outcome string) {
	if m != nil {
		m.deliveries.WithLabelValues(outcome).Inc()
	}
}

// Request counts an HTTP request.
func (m *Metrics) Request(route string, code int) {
	if m != nil {
		m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	}
}

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
