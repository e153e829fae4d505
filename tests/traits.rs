//! Compile-time checks of the contract's auto-trait promises: every public
//! type is `Send + Sync` where its contents allow and `Debug`; every future is
//! `Send` (so it can be held across `.await` in `tokio::spawn`); guards,
//! owned permits, timers and errors are `Send`; errors are `Send + Sync`.

use std::fmt::Debug;
use std::sync::Arc;
#[cfg(feature = "tokio")]
use std::time::Duration;

use ambisync::*;

fn send_sync<T: Send + Sync>(_: &T) {}
fn send<T: Send>(_: &T) {}
fn debug<T: Debug>(_: &T) {}
fn error<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn primitives_are_send_sync_and_debug() {
    let lock = Lock::new(0u32);
    let rlock = RLock::new(0u32);
    let condition = Condition::new();
    let event = Event::new();
    let semaphore = Semaphore::new(1);
    let bounded = BoundedSemaphore::new(1);
    let barrier = Barrier::new(1);
    let queue: Queue<String> = Queue::unbounded();
    let lifo: LifoQueue<String> = LifoQueue::unbounded();
    let priority: PriorityQueue<String> = PriorityQueue::unbounded();
    let rwlock = RwLock::new(0u32);
    send_sync(&rwlock);
    debug(&rwlock);
    send_sync(&lock);
    send_sync(&rlock);
    send_sync(&condition);
    send_sync(&event);
    send_sync(&semaphore);
    send_sync(&bounded);
    send_sync(&barrier);
    send_sync(&queue);
    send_sync(&lifo);
    send_sync(&priority);
    debug(&lock);
    debug(&rlock);
    debug(&condition);
    debug(&event);
    debug(&semaphore);
    debug(&bounded);
    debug(&barrier);
    debug(&queue);
    debug(&lifo);
    debug(&priority);
    debug(&queue.stream());
}

#[test]
fn guards_and_permits_are_send() {
    let lock = Arc::new(Lock::new(0u32));
    let rlock = RLock::new(0u32);
    let semaphore = Arc::new(Semaphore::new(2));
    let guard = lock.try_lock().unwrap();
    send_sync(&guard);
    debug(&guard);
    drop(guard);
    let owned = lock.try_lock_owned().unwrap();
    send_sync(&owned);
    debug(&owned);
    let rguard = rlock.try_lock().unwrap();
    send(&rguard);
    debug(&rguard);
    let permit = semaphore.try_acquire().unwrap();
    send_sync(&permit);
    debug(&permit);
    let owned_permit = semaphore.try_acquire_owned().unwrap();
    send_sync(&owned_permit);
    debug(&owned_permit);

    drop(owned);
    let mapped = LockGuard::map(lock.try_lock().unwrap(), |value| value);
    send_sync(&mapped);
    debug(&mapped);
    drop(mapped);
    let mapped = OwnedLockGuard::map(lock.try_lock_owned().unwrap(), |value| value);
    send_sync(&mapped);
    debug(&mapped);
    drop(mapped);

    let rwlock = Arc::new(RwLock::new(0u32));
    let read = RwLockReadGuard::map(rwlock.try_read().unwrap(), |value| value);
    send_sync(&read);
    debug(&read);
    let owned_read = OwnedRwLockReadGuard::map(rwlock.try_read_owned().unwrap(), |value| value);
    send_sync(&owned_read);
    debug(&owned_read);
    drop((read, owned_read));
    let upgradable = rwlock.try_upgradable_read().unwrap();
    send_sync(&upgradable);
    debug(&upgradable);
    let write = RwLockUpgradableReadGuard::try_upgrade(upgradable).unwrap();
    send_sync(&write);
    debug(&write);
    let mapped = RwLockWriteGuard::map(write, |value| value);
    send_sync(&mapped);
    debug(&mapped);
    drop(mapped);
    let owned_upgradable = rwlock.try_upgradable_read_owned().unwrap();
    send_sync(&owned_upgradable);
    debug(&owned_upgradable);
    let owned_write = OwnedRwLockUpgradableReadGuard::try_upgrade(owned_upgradable).unwrap();
    send_sync(&owned_write);
    debug(&owned_write);
    let owned_mapped = OwnedRwLockWriteGuard::map(owned_write, |value| value);
    send_sync(&owned_mapped);
    debug(&owned_mapped);
}

#[test]
fn errors_are_send_sync_errors() {
    error::<ReleaseError>();
    error::<BoundedReleaseError>();
    error::<BrokenBarrierError>();
    error::<PutError<String>>();
    error::<GetError>();
    error::<TaskDoneError>();
}

/// Holds every future across an `.await` inside `tokio::spawn`, which only
/// compiles if they are all `Send`.
#[tokio::test]
async fn futures_are_send() {
    let lock = Arc::new(Lock::new(0u32));
    let rlock = Arc::new(RLock::new(0u32));
    let condition = Arc::new(Condition::new());
    let event = Arc::new(Event::new());
    let semaphore = Arc::new(Semaphore::new(1));
    let bounded = Arc::new(BoundedSemaphore::new(1));
    let barrier = Arc::new(Barrier::new(1));
    let queue: Arc<Queue<String>> = Arc::new(Queue::unbounded());
    let rwlock = Arc::new(RwLock::new(0u32));
    tokio::spawn(async move {
        let guard = lock.lock().await;
        tokio::task::yield_now().await;
        let guard = condition.wait_for(guard, |_| true).await;
        drop(guard);
        let owned = lock.lock_owned().await;
        tokio::task::yield_now().await;
        drop(owned);
        let rguard = rlock.lock().await;
        tokio::task::yield_now().await;
        let rguard = condition.wait_for(rguard, |_| true).await;
        drop(rguard);
        event.set();
        event.wait().await;
        let permit = semaphore.acquire().await;
        tokio::task::yield_now().await;
        drop(permit);
        let permit = bounded.acquire_owned().await;
        tokio::task::yield_now().await;
        drop(permit);
        barrier.wait().await.unwrap();
        queue.put("item".to_string()).await.unwrap();
        queue.get().await.unwrap();
        queue.task_done().unwrap();
        queue.join().await;
        let read = rwlock.read().await;
        tokio::task::yield_now().await;
        drop(read);
        let upgradable = rwlock.upgradable_read_owned().await;
        let write = OwnedRwLockUpgradableReadGuard::upgrade(upgradable).await;
        tokio::task::yield_now().await;
        drop(write);
        let write = rwlock.write().await;
        tokio::task::yield_now().await;
        drop(write);
        let permits = semaphore.acquire_many(1).await.unwrap();
        tokio::task::yield_now().await;
        drop(permits);
    })
    .await
    .unwrap();
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn timeout_futures_are_send() {
    let lock = Arc::new(Lock::new(0u32));
    let condition = Arc::new(Condition::new());
    let queue: Arc<Queue<String>> = Arc::new(Queue::bounded(1));
    let rwlock = Arc::new(RwLock::new(0u32));
    tokio::spawn(async move {
        let guard = lock.lock_timeout(Duration::from_secs(10)).await.unwrap();
        let (guard, _) = condition.wait_timeout(guard, Duration::ZERO).await;
        tokio::task::yield_now().await;
        drop(guard);
        queue.put_timeout("a".into(), Duration::ZERO).await.unwrap();
        assert!(queue.get_timeout(Duration::ZERO).await.is_ok());
        let read = rwlock.read_timeout(Duration::from_secs(10)).await.unwrap();
        tokio::task::yield_now().await;
        drop(read);
        let upgradable = rwlock
            .upgradable_read_owned_timeout(Duration::from_secs(10))
            .await
            .unwrap();
        let write =
            OwnedRwLockUpgradableReadGuard::upgrade_timeout(upgradable, Duration::from_secs(10));
        let write = write.await.unwrap();
        tokio::task::yield_now().await;
        drop(write);
    })
    .await
    .unwrap();
}

#[cfg(feature = "tokio")]
#[test]
fn timer_is_send_sync() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let timer = runtime.block_on(async { Timer::after(Duration::ZERO, async { 1u8 }) });
    send_sync(&timer);
    debug(&timer);
    assert_eq!(
        timer.join_timeout_blocking(Duration::from_secs(10)),
        Some(1)
    );
}

#[test]
fn small_footprint() {
    // The uncontended state of the simplest primitives fits in two words.
    assert!(std::mem::size_of::<Lock<()>>() <= 16);
    assert!(std::mem::size_of::<Event>() <= 16);
    assert!(std::mem::size_of::<Semaphore>() <= 16);
}
