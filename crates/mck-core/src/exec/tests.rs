use super::*;

#[test]
fn poll_interval_grows_with_elapsed_time_and_is_capped() {
    let poll = PollConfig::default();
    assert_eq!(
        poll.next_interval(Duration::ZERO),
        Duration::from_millis(200)
    );
    assert_eq!(
        poll.next_interval(Duration::from_secs(10)),
        Duration::from_secs(1)
    );
    assert_eq!(
        poll.next_interval(Duration::from_secs(3600)),
        Duration::from_secs(10)
    );
}

#[test]
fn backoff_is_bounded() {
    let retry = RetryPolicy::default();
    for attempt in 1..30 {
        let wait = retry.backoff(attempt, "x");
        assert!(wait <= retry.cap, "attempt {attempt}: {wait:?}");
        assert!(wait >= retry.base.min(retry.cap) / 2);
    }
}
