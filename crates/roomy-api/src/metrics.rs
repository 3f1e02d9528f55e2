//! Prometheus metrics: request counts and latencies by route. Each server
//! instance owns its registry (no global recorder), so tests can run many
//! servers in one process.

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, text::encode},
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use std::{sync::Arc, time::Instant};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    /// Live WebSocket connections on this node.
    pub ws_connections: Gauge,
    /// Frames queued to connections by the hub.
    pub ws_deliveries: Counter,
    /// Connections closed with `resync` because they fell behind.
    pub ws_resyncs: Counter,
    /// Gaps in the bus's events the hub filled from the database.
    pub hub_gap_fills: Counter,
    /// Events the hub read from the database instead of the bus.
    pub hub_replayed: Counter,
    /// Times the bus lost its connection to the other nodes.
    pub bus_interruptions: Counter,
}

fn latency_histogram() -> Histogram {
    // 0.1 ms .. ~3.3 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Metrics {
    /// An empty registry with the HTTP metrics registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("roomy");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            latency.clone(),
        );
        let ws_connections = Gauge::default();
        let ws_deliveries = Counter::default();
        let ws_resyncs = Counter::default();
        let hub_gap_fills = Counter::default();
        let hub_replayed = Counter::default();
        let bus_interruptions = Counter::default();
        registry.register(
            "hub_gap_fills",
            "Gaps in the bus's events filled from the database",
            hub_gap_fills.clone(),
        );
        registry.register(
            "hub_replayed",
            "Events read from the database because the bus lost them",
            hub_replayed.clone(),
        );
        registry.register(
            "bus_interruptions",
            "Times the bus lost its connection to the other nodes",
            bus_interruptions.clone(),
        );
        registry.register(
            "ws_connections",
            "Live WebSocket connections",
            ws_connections.clone(),
        );
        registry.register(
            "ws_deliveries",
            "Events queued to WebSocket connections",
            ws_deliveries.clone(),
        );
        registry.register(
            "ws_resyncs",
            "WebSocket connections closed with resync for falling behind",
            ws_resyncs.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            ws_connections,
            ws_deliveries,
            ws_resyncs,
            hub_gap_fills,
            hub_replayed,
            bus_interruptions,
        }
    }

    /// Adds the network bus's own counters (`roomy_bus_sent_total` and the
    /// rest), read at each scrape; nothing for the in-process bus.
    pub fn watch_bus(&mut self, bus: Arc<dyn roomy_bus::Bus>) {
        if bus.network_stats().is_some() {
            self.registry
                .register_collector(Box::new(BusCollector(bus)));
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Reads a network bus's counters at each scrape.
struct BusCollector(Arc<dyn roomy_bus::Bus>);

impl std::fmt::Debug for BusCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BusCollector")
    }
}

impl Collector for BusCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = self.0.network_stats() else {
            return Ok(());
        };
        let counters = [
            ("bus_sent", "Events sent to the other nodes", s.sent),
            (
                "bus_queue_full",
                "Events not sent because the outgoing queue was full",
                s.full,
            ),
            (
                "bus_unsent",
                "Events not sent because the bus server was unreachable or refused them",
                s.unsent,
            ),
            (
                "bus_received",
                "Events received from the other nodes",
                s.received,
            ),
            (
                "bus_undecodable",
                "Payloads from the bus that did not decode",
                s.undecodable,
            ),
            (
                "bus_repeated",
                "Payloads from the bus dropped as repeats",
                s.repeated,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        Ok(())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The method as a label: the standard ones by name, anything else `other`,
/// so made-up methods cannot add series.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware recording every request. Labels come only from the server's
/// own routes and a fixed set of methods (unmatched paths share `unmatched`,
/// other methods `other`), so no client can grow the number of series.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method()).to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(start.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}
