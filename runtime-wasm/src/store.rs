//! Browser storage behind a small trait, so tests (and pages where `localStorage` throws, e.g.
//! sandboxed iframes or disabled cookies) can use memory instead.
//!
//! Key layout (prefix `engage:` by default, see the crate docs):
//!
//! | key | value |
//! |---|---|
//! | `engage:vid` | visitor id: 32 lowercase hex digits from `crypto.getRandomValues` |
//! | `engage:<site>:visit` | the engine's `Visit::to_json` |
//! | `engage:<site>:bundle` | `<etag>\n<bundle JSON>` as the server sent it |
//! | `engage:<site>:avail` | `<ms>\n<availability JSON>`: the last snapshot and when it came |
//! | `engage:<site>:events` | JSON array of events not yet accepted by the server |
//! | `engage:debug` | `1` while the debug panel is on |
//!
//! Anything unreadable under these keys is removed and rebuilt, never fatal.

use std::cell::RefCell;
use std::rc::Rc;

pub trait Store {
    fn get(&self, key: &str) -> Option<String>;
    /// `false` when the write failed (quota, storage disabled).
    fn set(&self, key: &str, value: &str) -> bool;
    fn remove(&self, key: &str);
}

/// `window.localStorage`.
pub struct LocalStore(web_sys::Storage);

impl LocalStore {
    /// `None` where the page may not use `localStorage` (accessing it throws).
    pub fn open() -> Option<LocalStore> {
        crate::dom::win()?.local_storage().ok()?.map(LocalStore)
    }
}

impl Store for LocalStore {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get_item(key).ok()?
    }
    fn set(&self, key: &str, value: &str) -> bool {
        self.0.set_item(key, value).is_ok()
    }
    fn remove(&self, key: &str) {
        let _ = self.0.remove_item(key);
    }
}

/// In-memory storage: nothing survives the page.
#[derive(Default)]
pub struct MemStore(RefCell<Vec<(String, String)>>);

impl Store for MemStore {
    fn get(&self, key: &str) -> Option<String> {
        let items = self.0.borrow();
        items.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }
    fn set(&self, key: &str, value: &str) -> bool {
        self.remove(key);
        self.0.borrow_mut().push((key.into(), value.into()));
        true
    }
    fn remove(&self, key: &str) {
        self.0.borrow_mut().retain(|(k, _)| k != key);
    }
}

/// `localStorage` when usable, else memory.
pub fn default_store() -> Rc<dyn Store> {
    match LocalStore::open() {
        Some(s) => Rc::new(s),
        None => Rc::new(MemStore::default()),
    }
}
