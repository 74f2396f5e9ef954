#pragma once
// The closed set of results a sync state operation can have; the HTTP adapter maps each to one status code.

namespace mpexec::sync {

enum class Status {
  Ok,
  NotFound,  ///< no such key (404)
  Conflict,  ///< a precondition failed: CAS, not the holder, already held, not inside the block (409)
  Timeout,   ///< the deadline passed while waiting (408)
  TooMany,   ///< over a key, lock, trail or waiter limit (429)
  Ended,     ///< the calling unit has ended: its waits are cancelled and it may take nothing new (401)
  Stopping,  ///< the service is stopping: every wait returns this (503)
  Busy,      ///< what was asked for would take memory that others hold now; ask again shortly (503)
};

/// A short lowercase word for the status ("ok", "not_found", ...), used in the operation log.
const char* statusName(Status s);

/// The HTTP status code for `s`.
int httpStatus(Status s);

}  // namespace mpexec::sync
