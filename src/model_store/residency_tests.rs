use std::sync::Mutex as StdMutex;
use std::time::Duration;

use super::*;

type Log = Arc<StdMutex<Vec<(String, u64, UnloadReason)>>>;

fn residency(budget: Option<u64>, keep_alive: KeepAlive) -> (Arc<Residency<String>>, Log) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let residency = Residency::new(budget, keep_alive, move |key, bytes, reason| {
        seen.lock().unwrap().push((key.to_owned(), bytes, reason));
    });
    (residency, log)
}

async fn load(residency: &Arc<Residency<String>>, key: &str, bytes: u64) -> Lease<String> {
    let reservation = residency.reserve(bytes).await.expect("fits the budget");
    reservation.install(key, format!("model {key}"), None)
}

#[tokio::test]
async fn idle_models_are_unloaded_least_recently_used_first_when_room_is_needed() {
    let (residency, log) = residency(Some(100), KeepAlive::Forever);
    drop(load(&residency, "a", 40).await);
    drop(load(&residency, "b", 40).await);
    drop(residency.lease("a", None).expect("a resident"));
    assert_eq!(residency.used_bytes(), 80);
    drop(load(&residency, "c", 40).await);
    assert!(residency.peek("b").is_none(), "b was the least recently used");
    assert!(residency.peek("a").is_some() && residency.peek("c").is_some());
    assert_eq!(residency.used_bytes(), 80);
    assert_eq!(*log.lock().unwrap(), vec![("b".to_owned(), 40, UnloadReason::Budget)]);
}

#[tokio::test]
async fn a_leased_model_is_never_unloaded_and_the_load_waits_for_it() {
    let (residency, log) = residency(Some(100), KeepAlive::Forever);
    let busy = load(&residency, "a", 70).await;
    let waiting = tokio::spawn({
        let residency = Arc::clone(&residency);
        async move { load(&residency, "b", 70).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "b loaded while a was busy");
    assert_eq!(&*busy, "model a");
    assert!(log.lock().unwrap().is_empty());
    drop(busy);
    let b = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("b loads once a is idle")
        .expect("task");
    assert_eq!(&*b, "model b");
    assert!(residency.peek("a").is_none());
    assert_eq!(residency.used_bytes(), 70);
}

#[tokio::test]
async fn a_model_larger_than_the_budget_is_refused_at_once() {
    let (residency, _) = residency(Some(100), KeepAlive::Forever);
    let refused = residency.reserve(101).await.err();
    assert_eq!(
        refused,
        Some(LargerThanBudget {
            needed: 101,
            budget: 100
        })
    );
    assert_eq!(residency.used_bytes(), 0);
}

#[tokio::test]
async fn an_abandoned_reservation_gives_its_room_back() {
    let (residency, _) = residency(Some(100), KeepAlive::Forever);
    let reservation = residency.reserve(80).await.expect("fits");
    assert_eq!(residency.used_bytes(), 80);
    drop(reservation);
    assert_eq!(residency.used_bytes(), 0);
    let cancelled = tokio::time::timeout(Duration::from_millis(50), async {
        let _held = residency.reserve(60).await.expect("fits");
        residency.reserve(60).await.map(|_| ())
    })
    .await;
    assert!(
        cancelled.is_err(),
        "the second reservation cannot fit while the first is held"
    );
    assert_eq!(residency.used_bytes(), 0);
}

#[tokio::test]
async fn keep_alive_zero_unloads_when_the_last_lease_ends() {
    let (residency, log) = residency(None, KeepAlive::Forever);
    let first = load(&residency, "a", 10).await;
    let second = residency
        .lease("a", Some(KeepAlive::For(Duration::ZERO)))
        .expect("resident");
    drop(second);
    assert!(residency.peek("a").is_some(), "still leased by the first request");
    drop(first);
    assert!(
        residency.peek("a").is_some(),
        "the last lease's keep-alive (forever) applies"
    );
    drop(residency.lease("a", Some(KeepAlive::For(Duration::ZERO))));
    assert!(residency.peek("a").is_none());
    assert_eq!(*log.lock().unwrap(), vec![("a".to_owned(), 10, UnloadReason::Expired)]);
}

#[tokio::test]
async fn an_idle_model_is_unloaded_when_its_keep_alive_runs_out() {
    let (residency, log) = residency(None, KeepAlive::For(Duration::from_millis(200)));
    drop(load(&residency, "a", 10).await);
    drop(load(&residency, "b", 10).await);
    drop(residency.lease("b", Some(KeepAlive::Forever)));
    let (_, state) = residency.peek("a").expect("resident");
    assert!(state.expires.is_some() && state.leases == 0);
    let mut waited = 0;
    while residency.peek("a").is_some() && waited < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    assert!(residency.peek("a").is_none(), "a expired");
    assert!(residency.peek("b").is_some(), "b is kept forever");
    assert_eq!(*log.lock().unwrap(), vec![("a".to_owned(), 10, UnloadReason::Expired)]);
}

#[tokio::test]
async fn a_new_request_stops_the_expiry() {
    let (residency, _) = residency(None, KeepAlive::For(Duration::from_millis(150)));
    drop(load(&residency, "a", 10).await);
    let held = residency.lease("a", None).expect("resident");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(residency.peek("a").is_some(), "unloaded while leased");
    assert_eq!(residency.peek("a").map(|(_, s)| s.expires), Some(None));
    drop(held);
}

#[tokio::test]
async fn idle_models_stay_while_a_load_must_wait_for_a_busy_one_anyway() {
    let (residency, log) = residency(Some(100), KeepAlive::Forever);
    let busy = load(&residency, "a", 60).await;
    drop(load(&residency, "b", 30).await);
    let waiting = tokio::spawn({
        let residency = Arc::clone(&residency);
        async move { load(&residency, "c", 50).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        residency.peek("b").is_some(),
        "unloading b alone would not have made room"
    );
    assert!(log.lock().unwrap().is_empty());
    drop(busy);
    let c = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("c loads once a is idle")
        .expect("task");
    assert_eq!(&*c, "model c");
    assert!(residency.used_bytes() <= 100);
}
