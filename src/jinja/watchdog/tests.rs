use super::*;

#[test]
fn a_thread_knows_its_id_and_processor_time() {
    let tid = thread_id().expect("Linux tells the thread id");
    let before = thread_cpu(tid).expect("and its processor time");
    // Spin until the processor time shows 50 ms of work (a busy machine gives this thread
    // less than its wall time), or give up after 10 s of wall time.
    let started = Instant::now();
    let mut after = before;
    while after < before + Duration::from_millis(50) && started.elapsed() < Duration::from_secs(10)
    {
        let mut x = 0u64;
        for _ in 0..100_000 {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        after = thread_cpu(tid).expect("still");
    }
    assert!(
        after >= before + Duration::from_millis(50),
        "{before:?} {after:?}"
    );
}

#[test]
fn a_sleeping_rendering_is_not_a_runaway_one() {
    let tid = thread_id().expect("Linux tells the thread id");
    let first = Seen {
        generation: 1,
        at: Instant::now() - Duration::from_secs(10),
        cpu: thread_cpu(tid),
        rss: resident_bytes(),
    };
    // Ten seconds since it was seen, but no processor time used: not stopped.
    assert_eq!(judge(&first, thread_cpu(tid)), None);
}
