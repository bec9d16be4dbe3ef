//! Tests of the delivery queue: report wording, retry steps, and, against receivers that
//! refuse or hang, the retries, the bounds on queue, time and slots, and per-group fairness.

use super::*;
use parking_lot::Mutex;

fn report(outcome: Outcome, next: Next) -> Report {
    Report::Attempt {
        event: "job.completed".into(),
        target: "http://h:1/p".into(),
        attempt: 2,
        attempts: 5,
        outcome,
        next,
    }
}

#[test]
fn targets_hide_user_info_and_query() {
    let url: Uri = "https://user:pw@hooks.example:8443/in?token=abc"
        .parse()
        .unwrap();
    assert_eq!(display_target(&url), "https://hooks.example:8443/in");
    let url: Uri = "http://127.0.0.1/".parse().unwrap();
    assert_eq!(display_target(&url), "http://127.0.0.1/");
}

#[test]
fn steps() {
    assert_eq!(next_step(&Outcome::Delivered(204), 5, 5, false), Next::Done);
    assert_eq!(next_step(&Outcome::Status(500), 1, 5, true), Next::Retry);
    assert_eq!(next_step(&Outcome::Timeout, 5, 5, true), Next::GiveUp);
    assert_eq!(next_step(&Outcome::Connect, 1, 5, false), Next::GiveUp);
}

#[test]
fn reports_read_well() {
    let done = report(Outcome::Delivered(200), Next::Done);
    assert_eq!(done.level(), "info");
    assert_eq!(
        done.message(),
        "Webhook job.completed delivered to http://h:1/p (attempt 2/5, HTTP 200)"
    );
    let retry = report(Outcome::Status(503), Next::Retry);
    assert_eq!(retry.level(), "warn");
    assert!(retry
        .message()
        .ends_with("(attempt 2/5, HTTP 503); retrying"));
    let last = report(Outcome::Connect, Next::GiveUp);
    assert_eq!(last.level(), "error");
    assert!(last.message().contains("could not connect"));
}

/// Tags 0..100 are group 0, 100..200 group 1, and so on.
impl Tag for u32 {
    type Group = u32;
    fn group(&self) -> u32 {
        self / 100
    }
}

type Seen = Arc<Mutex<Vec<(u32, Report)>>>;

/// A receiver that accepts connections and never answers; counts the connections.
async fn hanging() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            open.push(socket);
        }
    });
    (url, accepted)
}

fn collecting() -> (Sink<u32>, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink_seen = seen.clone();
    let sink: Sink<u32> = Arc::new(move |tag: &u32, report: &Report| {
        sink_seen.lock().push((*tag, report.clone()));
    });
    (sink, seen)
}

fn delivery(tag: u32, url: &str) -> Delivery<u32> {
    Delivery {
        tag,
        url: url.parse().unwrap(),
        secret: Secret::new("s"),
        event: "job.completed".into(),
        body: Bytes::from_static(b"{}"),
    }
}

#[tokio::test]
async fn a_dead_receiver_gets_every_attempt_then_gives_up() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    drop(listener);
    let (sink, seen) = collecting();
    let config = DeliveryConfig {
        attempts: 3,
        backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(5)),
        ..DeliveryConfig::default()
    };
    Deliverer::new(config, sink).enqueue(delivery(7, &url));
    tokio::time::timeout(Duration::from_secs(5), async {
        while seen.lock().len() < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let seen = seen.lock();
    let nexts: Vec<Next> = seen
        .iter()
        .map(|(tag, report)| {
            assert_eq!(*tag, 7);
            match report {
                Report::Attempt { outcome, next, .. } => {
                    assert_eq!(outcome, &Outcome::Connect);
                    *next
                }
                Report::Dropped { .. } => panic!("not dropped"),
            }
        })
        .collect();
    assert_eq!(nexts, vec![Next::Retry, Next::Retry, Next::GiveUp]);
}

#[tokio::test]
async fn a_full_queue_drops_without_waiting() {
    // A receiver that accepts and never answers keeps the one sending slot busy.
    let (url, _) = hanging().await;
    let (sink, seen) = collecting();
    let config = DeliveryConfig {
        queue_capacity: 1,
        concurrency: 1,
        ..DeliveryConfig::default()
    };
    let deliverer = Deliverer::new(config, sink);
    let started = std::time::Instant::now();
    for tag in 0..20 {
        deliverer.enqueue(delivery(tag, &url));
    }
    assert!(started.elapsed() < Duration::from_millis(500));
    let dropped = seen
        .lock()
        .iter()
        .filter(|(_, report)| matches!(report, Report::Dropped { .. }))
        .count();
    assert!(dropped >= 17, "dropped {dropped}");
}

#[test]
fn without_a_runtime_a_delivery_is_dropped_and_reported() {
    let (sink, seen) = collecting();
    Deliverer::new(DeliveryConfig::default(), sink).enqueue(delivery(1, "http://127.0.0.1:9/"));
    assert!(matches!(seen.lock()[0].1, Report::Dropped { .. }));
}

#[tokio::test]
async fn the_total_limit_gives_up_before_the_last_attempt() {
    let (url, _) = hanging().await;
    let (sink, seen) = collecting();
    let config = DeliveryConfig {
        attempts: 50,
        backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(5)),
        attempt_timeout: Duration::from_millis(100),
        total_timeout: Duration::from_millis(350),
        ..DeliveryConfig::default()
    };
    let started = std::time::Instant::now();
    Deliverer::new(config, sink).enqueue(delivery(3, &url));
    let last = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some((_, report)) = seen.lock().last() {
                if matches!(
                    report,
                    Report::Attempt {
                        next: Next::GiveUp,
                        ..
                    }
                ) {
                    return report.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let Report::Attempt {
        attempt, outcome, ..
    } = last
    else {
        panic!("an attempt");
    };
    assert_eq!(outcome, Outcome::Timeout);
    assert!(attempt < 10, "gave up at attempt {attempt} of 50");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        seen.lock().len(),
        attempt as usize,
        "one report per attempt"
    );
}

#[tokio::test]
async fn one_group_never_takes_more_than_its_share_of_slots() {
    let (url, accepted) = hanging().await;
    let (sink, _seen) = collecting();
    let config = DeliveryConfig {
        concurrency: 8,
        group_concurrency: 2,
        ..DeliveryConfig::default()
    };
    let deliverer = Deliverer::new(config, sink);
    // Ten deliveries of group 0, then three of group 1, all to a receiver that hangs.
    for tag in (0..10).chain(100..103) {
        deliverer.enqueue(delivery(tag, &url));
    }
    tokio::time::timeout(Duration::from_secs(5), async {
        while accepted.load(std::sync::atomic::Ordering::SeqCst) < 4 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "two in flight per group, though eight slots are free"
    );
    assert_eq!(deliverer.shared.group_count(), 2);
}

#[tokio::test]
async fn a_group_is_forgotten_when_its_deliveries_end() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    drop(listener);
    let (sink, seen) = collecting();
    let config = DeliveryConfig {
        attempts: 1,
        ..DeliveryConfig::default()
    };
    let deliverer = Deliverer::new(config, sink);
    deliverer.enqueue(delivery(1, &url));
    tokio::time::timeout(Duration::from_secs(5), async {
        while seen.lock().is_empty() || deliverer.shared.group_count() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(deliverer.shared.group_count(), 0);
}
